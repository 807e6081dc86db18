#!/usr/bin/env python3
"""gen_scenarios.py - writes the SIPp scenarios of this directory.

The scenarios share their leak checks and message templates; editing them
here keeps every file's checks the same. Run it after a change and commit
both the script and the XML it writes:

    python3 sipp-scenarios/gen_scenarios.py
"""
import os
D = os.path.dirname(os.path.abspath(__file__))
UAC_CHECKS='''      <ereg regexp="1303555[0-9]{4}" search_in="msg" check_it_inverse="true" assign_to="leak_num"/>
      <ereg regexp="127\\.0\\.0\\.3([^0-9]|$)" search_in="msg" check_it_inverse="true" assign_to="leak_ip"/>
      <ereg regexp="PartyB" search_in="msg" check_it_inverse="true" assign_to="leak_hdr"/>'''
UAS_CHECKS='''      <ereg regexp="1202555[0-9]{4}" search_in="msg" check_it_inverse="true" assign_to="leak_num"/>
      <ereg regexp="127\\.0\\.0\\.2([^0-9]|$)" search_in="msg" check_it_inverse="true" assign_to="leak_ip"/>
      <ereg regexp="PartyA" search_in="msg" check_it_inverse="true" assign_to="leak_hdr"/>'''
UAS_INVITE_CHECKS=UAS_CHECKS+'''
      <ereg regexp="Remote-Party-ID|P-Preferred-Identity|Privacy|Diversion|History-Info|P-Charging-Vector|Record-Route|Organization|Subject|Call-Info|User-Agent|X-|REFER|100rel|replaces" search_in="msg" check_it_inverse="true" assign_to="leak_hdr2"/>
      <ereg regexp="sip:([^@;>]+)@" search_in="hdr" header="From:" check_it="true" assign_to="junk1,from_user"/>
      <ereg regexp="tag=([^;>]+)" search_in="hdr" header="From:" check_it="true" assign_to="junk2,from_tag"/>
      <ereg regexp="sip:([^@;>]+)@" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="junk3,pai_user"/>
      <ereg regexp="^INVITE sip:([^@;>]+)@" search_in="msg" check_it="true" assign_to="junk4,ruri_user"/>
      <ereg regexp="(sip:[^>]+)>" search_in="hdr" header="Contact:" check_it="true" assign_to="junk5,contact_uri"/>
      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" check_it="true" assign_to="junk6,inv_cseq"/>
      <assignstr assign_to="want_vn" value="[vn]"/>
      <assignstr assign_to="want_callee" value="[callee]"/>
      <strcmp variable="from_user" variable2="want_vn" check_it="true"/>
      <strcmp variable="pai_user" variable2="want_vn" check_it="true"/>
      <strcmp variable="ruri_user" variable2="want_callee" check_it="true"/>'''
UAS_REFS='leak_num,leak_ip,leak_hdr,leak_hdr2,junk1,junk2,junk3,junk4,junk5,junk6,from_tag,contact_uri,inv_cseq'
UAC_REFS='leak_num,leak_ip,leak_hdr'

def sdp(owner, direction='sendrecv'):
    return '''      v=0
      o=%s 53655765 2353687637 IN IP[media_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=%s
''' % (owner, direction)

FROM_A='From: "Party A" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]'
TO_A='To: <sip:[service]@[remote_ip]:[remote_port]>'

def invite_a(frm=None, pai=''):
    return '''  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Record-Route: <sip:[local_ip]:[local_port];lr>
      User-Agent: PartyA-Phone/1.0
      Remote-Party-ID: <sip:[caller]@[local_ip]>;party=calling
      P-Preferred-Identity: <sip:[caller]@[local_ip]>
      Privacy: none
      Diversion: <sip:[caller]@[local_ip]>;reason=unconditional
      History-Info: <sip:[caller]@[local_ip]>;index=1
      P-Charging-Vector: icid-value=[caller]
      Organization: PartyA-Org
      Subject: PartyA-Subject
      Call-Info: <http://[local_ip]/partya.png>;purpose=icon
      X-PartyA-Secret: [caller]
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER
      Supported: replaces, timer%s
      Content-Type: application/sdp
      Content-Length: [len]

%s
    ]]>
  </send>
''' % (frm or FROM_A, TO_A, pai, sdp('partya'))

def recv(what, extra='', attrs='', checks=UAC_CHECKS):
    kind = 'response' if what[0].isdigit() else 'request'
    return '''  <recv %s="%s"%s>
    <action>
%s%s
    </action>
  </recv>
''' % (kind, what, attrs, checks, extra)

def early_a():
    return recv('100', attrs=' optional="true"') + recv('180', attrs=' optional="true"') + recv('183', attrs=' optional="true"')

def ack_2xx(cseq=1):
    return '''  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
''' % (FROM_A, TO_A, cseq)

def ack_fail():
    return '''  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
''' % (FROM_A, TO_A)

def in_dialog_a(method, cseq, body=None):
    b = ''
    ct = 'Content-Length: 0'
    if body:
        ct = 'Content-Type: application/sdp\n      Content-Length: [len]'
        b = '\n' + body
    return '''  <send retrans="500">
    <![CDATA[

      %s [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d %s
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: PartyA-Phone/1.0
      %s
%s
    ]]>
  </send>
''' % (method, FROM_A, TO_A, cseq, method, ct, b)

def ok_for(method):
    return '\n      <ereg regexp="[0-9]+ %s" search_in="hdr" header="CSeq:" check_it="true" assign_to="cseq_ok"/>' % method

def reply_a(code, reason):
    return '''  <send>
    <![CDATA[

      SIP/2.0 %s %s
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
''' % (code, reason)

def header(name, doc):
    return '''<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!--
%s
-->
<scenario name="%s">

''' % (doc.strip('\n'), name)

def footer(refs):
    return '''  <Reference variables="%s"/>

  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000"/>
  <CallLengthRepartition value="500, 1000, 5000, 10000"/>
</scenario>
''' % refs

UAC_DOC = '''  Party A: the caller, on a carrier trunk, calling the virtual number.
  Keys:   -s VN          the virtual number (Request-URI user)
          -key caller N  party A's number (From); the tests use +1202555xxxx
          -d MS          how long the call lasts before A acts
  Checks: every message maskd sends to A is free of party B's number
          (+1303555xxxx in the tests), of the gateway's address
          (127.0.0.3) and of B's own headers ("PartyB..."). The
          tests put each party's media (-mi) on its signalling address,
          so these checks also catch an SDP that was not rewritten.'''
UAS_DOC = '''  The outbound gateway (party B), reached by maskd on the masked leg.
  Keys:   -key vn N      the virtual number: From and P-Asserted-Identity
          -key callee N  party B's number: the Request-URI user
          -d MS          how long B waits before it acts
  Checks: the INVITE holds the VN in From and P-Asserted-Identity and B in
          the Request-URI, and nothing of party A: no caller number
          (+1202555xxxx in the tests), no 127.0.0.2, none of A's headers
          (User-Agent, Diversion, Remote-Party-ID, X-..., Record-Route,
          ...); every later request is checked for A's number and address.'''

def uas_invite():
    return recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS)

def uas_resp(code, reason, body=None, contact=True, extra_hdr=''):
    b=''
    ct='Content-Length: 0'
    if body:
        ct='Content-Type: application/sdp\n      Content-Length: [len]'
        b='\n'+body
    c = '\n      Contact: <sip:[callee]@[local_ip]:[local_port]>' if contact else ''
    retrans = ' retrans="500"' if code == '200' and body else ''
    return '''  <send%s>
    <![CDATA[

      SIP/2.0 %s %s
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]%s
      Server: PartyB-Switch/2.0%s
      %s
%s
    ]]>
  </send>
''' % (retrans, code, reason, c, extra_hdr, ct, b)

def uas_reply_plain(code, reason):
    return '''  <send>
    <![CDATA[

      SIP/2.0 %s %s
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Server: PartyB-Switch/2.0
      Content-Length: 0

    ]]>
  </send>
''' % (code, reason)

def uas_request(method, cseq, body=None):
    b=''
    ct='Content-Length: 0'
    if body:
        ct='Content-Type: application/sdp\n      Content-Length: [len]'
        b='\n'+body
    return '''  <send retrans="500">
    <![CDATA[

      %s [$contact_uri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[callee]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: <[$contact_uri]>;tag=[$from_tag]
      Call-ID: [call_id]
      CSeq: %d %s
      Contact: <sip:[callee]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: PartyB-Phone/1.0
      %s
%s
    ]]>
  </send>
''' % (method, cseq, method, ct, b)

OK200_B = uas_resp('200', 'OK', sdp('partyb'), extra_hdr='\n      Record-Route: <sip:[local_ip]:[local_port];lr>\n      Warning: 399 [local_ip] "PartyB warning"\n      P-Asserted-Identity: <sip:[callee]@[local_ip]>')
RING_B = uas_resp('180', 'Ringing')
TIMEWAIT = '  <timewait milliseconds="1000"/>\n\n'
PAUSE = '  <pause/>\n\n'

files = {}

# ---- basic: A hangs up
files['basic_uac.xml'] = header('maskd basic call, caller hangs up', '''  basic_uac.xml - party A calls the VN, talks (-d), hangs up.
''' + UAC_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra='\n      <ereg regexp="application/sdp" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ctype"/>') + ack_2xx() + PAUSE + in_dialog_a('BYE', 2) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',ctype,cseq_ok')

files['basic_uas.xml'] = header('maskd gateway answers, other side hangs up', '''  basic_uas.xml - B rings, sends early media (183 with SDP), answers, and
  receives the BYE (from A's side, or from maskd at the call time limit).
''' + UAS_DOC) + uas_invite() + RING_B + uas_resp('183', 'Session Progress', sdp('partyb')) + OK200_B + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS)

# ---- trusted trunk: caller from P-Asserted-Identity, national numbers
FROM_ANON = 'From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=[pid]SIPpTag00[call_number]'
files['pai_uac.xml'] = header('maskd call from a trusted trunk', '''  pai_uac.xml - like basic_uac.xml, from a trunk marked trusted = yes: the
  From is anonymous and the caller is in P-Asserted-Identity. With
  national numbers (no "+") the trunk's prefix rule makes them E.164.
''' + UAC_DOC) + invite_a(FROM_ANON, '\n      P-Asserted-Identity: <sip:[caller]@[local_ip]>') + early_a() + recv('200', attrs=' rtd="true" rrs="true"') + ack_2xx().replace(FROM_A, FROM_ANON) + PAUSE + in_dialog_a('BYE', 2).replace(FROM_A, FROM_ANON) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok')

# ---- callee hangs up
files['callee_bye_uac.xml'] = header('maskd call, the other side hangs up', '''  callee_bye_uac.xml - party A calls the VN and receives the BYE (from B's
  side, or from maskd at the call time limit).
''' + UAC_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"') + ack_2xx() + recv('BYE', attrs=' crlf="true"') + reply_a('200', 'OK') + TIMEWAIT + footer(UAC_REFS)

files['callee_bye_uas.xml'] = header('maskd gateway answers, then hangs up', '''  callee_bye_uas.xml - B rings, answers, waits (-d) and hangs up.
''' + UAS_DOC) + uas_invite() + RING_B + OK200_B + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + PAUSE + uas_request('BYE', 1) + recv('200', checks=UAS_CHECKS, extra=ok_for('BYE')) + footer(UAS_REFS + ',cseq_ok')

# ---- rejections
codes = ['403','404','408','410','415','420','480','483','486','487','488','500','503','600','603','604','606']
rej = ''
for c in codes:
    rej += recv(c, attrs=' optional="true" next="ack"', extra='''
      <ereg regexp="^SIP/2\\.0 ([0-9]+)" search_in="msg" check_it="true" assign_to="junk,status"/>''')
files['reject_uac.xml'] = header('maskd refuses or fails the call', '''  reject_uac.xml - party A calls and gets a final failure, which it ACKs.
  Keys:   -key code N    the final status A must get (403 foreign source,
                         404 unknown pair, 486 busy, 480 no answer, ...)
''' + UAC_DOC) + invite_a() + recv('100', attrs=' optional="true"') + recv('180', attrs=' optional="true"') + recv('183', attrs=' optional="true"') + rej + '''  <!-- any other answer, or none, fails the call -->
  <recv response="999"/>

  <label id="ack"/>
  <nop>
    <action>
      <assignstr assign_to="want" value="[code]"/>
      <strcmp variable="status" variable2="want" check_it="true"/>
    </action>
  </nop>
''' + ack_fail() + TIMEWAIT + footer(UAC_REFS + ',junk')

UAS_CODES = [('404', 'Not Found'), ('408', 'Request Timeout'),
             ('480', 'Temporarily Unavailable'), ('486', 'Busy Here'),
             ('502', 'Bad Gateway'), ('503', 'Service Unavailable'),
             ('603', 'Decline')]
branch = '  <nop>\n    <action>\n      <assignstr assign_to="code" value="[code]"/>\n'
for c, _ in UAS_CODES:
    branch += '      <strcmp assign_to="cmp%s" variable="code" value="%s"/>\n' % (c, c)
    branch += '      <test assign_to="is%s" variable="cmp%s" compare="equal" value="0"/>\n' % (c, c)
branch += '    </action>\n  </nop>\n'
for c, _ in UAS_CODES:
    branch += '  <nop test="is%s" next="r%s"/>\n' % (c, c)
branch += '  <!-- a code this scenario does not know fails the call -->\n  <recv request="NEVER" timeout="100"/>\n\n'
for c, r in UAS_CODES:
    branch += '  <label id="r%s"/>\n' % c + uas_resp(c, r + ' (PartyB)', contact=False, extra_hdr='\n      Warning: 399 [local_ip] "PartyB says no"\n      Reason: Q.850;cause=17;text="PartyB busy"') + recv('ACK', checks=UAS_CHECKS, attrs=' crlf="true"') + '  <nop next="end"/>\n\n'
branch += '  <label id="end"/>\n'
refs = ',code,' + ','.join('cmp%s,is%s' % (c, c) for c, _ in UAS_CODES)
files['reject_uas.xml'] = header('maskd gateway refuses the call', """  reject_uas.xml - B answers the INVITE with a final failure.
  Keys:   -key code N    the status B answers with: one of
                         """ + ', '.join(c for c, _ in UAS_CODES) + """
""" + UAS_DOC) + uas_invite() + branch + TIMEWAIT + footer(UAS_REFS + refs)

# ---- cancel
files['cancel_uac.xml'] = header('maskd call cancelled by the caller', '''  cancel_uac.xml - party A calls, hears ringing, waits (-d) and CANCELs.
''' + UAC_DOC) + invite_a() + recv('100', attrs=' optional="true"') + recv('180') + PAUSE + '''  <send>
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      %s
      %s
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

''' % (FROM_A, TO_A) + recv('200', extra=ok_for('CANCEL')) + recv('487') + ack_fail() + TIMEWAIT + footer(UAC_REFS + ',cseq_ok')

files['cancel_uas.xml'] = header('maskd gateway rings until cancelled', '''  cancel_uas.xml - B rings and never answers; maskd CANCELs (the caller
  gave up, or the ring timeout fired). B answers 200 to the CANCEL and 487
  to the INVITE.
''' + UAS_DOC) + uas_invite() + RING_B + recv('CANCEL', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + '''  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$inv_cseq] INVITE
      Content-Length: 0

    ]]>
  </send>

''' + recv('ACK', checks=UAS_CHECKS) + TIMEWAIT + footer(UAS_REFS)

# ---- hold / resume (re-INVITE from A)
files['hold_uac.xml'] = header('maskd call, caller holds and resumes', '''  hold_uac.xml - party A calls, puts B on hold (re-INVITE a=sendonly),
  resumes (a=sendrecv), hangs up. Each re-INVITE's answer must come back.
''' + UAC_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"') + ack_2xx() + PAUSE + in_dialog_a('INVITE', 2, sdp('partya', 'sendonly')) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + '\n      <ereg regexp="a=recvonly" search_in="msg" check_it="true" assign_to="held"/>') + ack_2xx(2) + PAUSE + in_dialog_a('INVITE', 3, sdp('partya', 'sendrecv')) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + '\n      <ereg regexp="a=sendrecv" search_in="msg" check_it="true" assign_to="resumed"/>') + ack_2xx(3) + in_dialog_a('BYE', 4) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,held,resumed')

files['hold_uas.xml'] = header('maskd gateway, held and resumed', '''  hold_uas.xml - B answers, is put on hold and resumed by re-INVITEs
  (each answered with the matching direction), then receives the BYE.
''' + UAS_DOC) + uas_invite() + RING_B + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra='\n      <ereg regexp="a=sendonly" search_in="msg" check_it="true" assign_to="hold"/>') + uas_resp('200', 'OK', sdp('partyb', 'recvonly')).replace(';tag=[pid]SIPpTag01[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra='\n      <ereg regexp="a=sendrecv" search_in="msg" check_it="true" assign_to="resume"/>') + uas_resp('200', 'OK', sdp('partyb', 'sendrecv')).replace(';tag=[pid]SIPpTag01[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',hold,resume')

# ---- hold from B with UPDATE? (B re-INVITEs A)
files['reinvite_uac.xml'] = header('maskd call, the other side re-INVITEs', '''  reinvite_uac.xml - party A calls; B's side holds A with a re-INVITE
  (relayed by maskd on A's dialog), then A hangs up.
''' + UAC_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"') + ack_2xx() + recv('INVITE', attrs=' crlf="true"', extra='\n      <ereg regexp="a=sendonly" search_in="msg" check_it="true" assign_to="held"/>') + '''  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      User-Agent: PartyA-Phone/1.0
      Content-Type: application/sdp
      Content-Length: [len]

''' + sdp('partya', 'recvonly') + '''
    ]]>
  </send>

''' + recv('ACK') + PAUSE + in_dialog_a('BYE', 2) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,held')

files['reinvite_uas.xml'] = header('maskd gateway re-INVITEs', '''  reinvite_uas.xml - B answers, waits (-d), puts A on hold with a
  re-INVITE (a=sendonly), gets A's answer (a=recvonly) relayed, ACKs it,
  then receives the BYE.
''' + UAS_DOC) + uas_invite() + RING_B + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + PAUSE + uas_request('INVITE', 1, sdp('partyb', 'sendonly')) + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + '\n      <ereg regexp="a=recvonly" search_in="msg" check_it="true" assign_to="held"/>') + '''  <send>
    <![CDATA[

      ACK [$contact_uri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[callee]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: <[$contact_uri]>;tag=[$from_tag]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

''' + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',cseq_ok,held')

# ---- OPTIONS keepalive
files['options_uac.xml'] = header('maskd answers a trunk keepalive', '''  options_uac.xml - a carrier's OPTIONS keepalive, answered 200 with Allow.
  Keys:   -key caller N  a number for From (any)
''' + UAC_DOC) + '''  <send retrans="500">
    <![CDATA[

      OPTIONS sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:ping@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

''' + recv('200', extra='''
      <ereg regexp="INVITE" search_in="hdr" header="Allow:" check_it="true" assign_to="allow"/>''') + footer(UAC_REFS + ',allow')

# ---- media (tests/sip/test_media.py): the SDP names where a Python RTP
# peer of the test listens, and each party writes the relay port maskd
# gave it into a file the test waits for
MEDIA_DOC = '''
  Media:  -key mport N     the RTP port this party's SDP names (its RTCP
                           port is N + 1); a test RTP peer listens there
          -key rtp_file F  where to write the relay port maskd's SDP
                           names for this party (F.resumed: a mark when
                           a hold is resumed)'''

def media_sdp(owner, direction='sendrecv'):
    return '''      v=0
      o=%s 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio [mport] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=%s
''' % (owner, direction)

# maskd's SDP: its address, a relay port, the direction kept
def sdp_from_maskd(direction=None):
    x = '''
      <ereg regexp="c=IN IP4 127\\.0\\.0\\.1[^0-9]" search_in="msg" check_it="true" assign_to="maskd_c"/>
      <ereg regexp="m=audio ([0-9]+) RTP/AVP 0 101" search_in="msg" check_it="true" assign_to="junk_m,relay_port"/>'''
    if direction:
        x += '''
      <ereg regexp="a=%s" search_in="msg" check_it="true" assign_to="dir_%s"/>''' % (direction, direction)
    return x

GRAB = '''
      <exec command="echo [$relay_port] > [rtp_file].tmp ; mv [rtp_file].tmp [rtp_file]"/>'''
MARK_RESUMED = '''
      <exec command="echo [$relay_port] > [rtp_file].r.tmp ; mv [rtp_file].r.tmp [rtp_file].resumed"/>'''
MEDIA_REFS = ',maskd_c,junk_m,relay_port'

def invite_media():
    return invite_a().replace(sdp('partya'), media_sdp('partya'))

def media_ok_b(direction='sendrecv', in_dialog=False):
    r = uas_resp('200', 'OK', media_sdp('partyb', direction),
                 extra_hdr='\n      Record-Route: <sip:[local_ip]:[local_port];lr>')
    if in_dialog:
        r = r.replace(';tag=[pid]SIPpTag01[call_number]', '')
    return r

def uac_media_head(doc_name, doc):
    return header(doc_name, doc + UAC_DOC + MEDIA_DOC) + invite_media() + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=sdp_from_maskd() + GRAB) + ack_2xx()

files['media_uac.xml'] = uac_media_head('maskd media call, caller hangs up', '''  media_uac.xml - party A calls the VN with SDP naming its RTP peer,
  writes the relay port of maskd's answer to [rtp_file], talks (-d) and
  hangs up.
''') + PAUSE + in_dialog_a('BYE', 2) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok' + MEDIA_REFS)

files['media_wait_bye_uac.xml'] = uac_media_head('maskd media call, maskd hangs up', '''  media_wait_bye_uac.xml - party A calls the VN with SDP naming its RTP
  peer, writes the relay port to [rtp_file] and waits for the BYE (maskd's,
  when the media stops: the RTP timeout).
''') + recv('BYE', attrs=' crlf="true"') + reply_a('200', 'OK') + TIMEWAIT + footer(UAC_REFS + MEDIA_REFS)

files['media_hold_uac.xml'] = uac_media_head('maskd media call, caller holds and resumes', '''  media_hold_uac.xml - party A calls, talks (-d), holds B (re-INVITE
  a=sendonly: maskd's answer must say a=recvonly), waits (-d), resumes
  (a=sendrecv), marks the resume in [rtp_file].resumed, talks (2 x -d)
  and hangs up. Every answer must name maskd and the same relay port.
''') + PAUSE + in_dialog_a('INVITE', 2, media_sdp('partya', 'sendonly')) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + sdp_from_maskd('recvonly')) + ack_2xx(2) + PAUSE + in_dialog_a('INVITE', 3, media_sdp('partya', 'sendrecv')) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + sdp_from_maskd('sendrecv') + MARK_RESUMED) + ack_2xx(3) + PAUSE + PAUSE + in_dialog_a('BYE', 4) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,dir_recvonly,dir_sendrecv' + MEDIA_REFS)

BAD_SDP = '''      v=0
      o=partya 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio [mport] RT /AVP 0
'''
files['media_bad_sdp_uac.xml'] = header('maskd refuses SDP it cannot rewrite', '''  media_bad_sdp_uac.xml - party A offers SDP whose m= line breaks RFC
  4566's grammar; maskd must answer 488 and forward nothing.
''' + UAC_DOC + MEDIA_DOC) + invite_a().replace(sdp('partya'), BAD_SDP) + recv('100', attrs=' optional="true"') + recv('488') + ack_fail() + TIMEWAIT + footer(UAC_REFS)

UAS_MEDIA_DOC = '''
  The SDP B receives must name maskd (127.0.0.1) and a relay port, which
  B writes to [rtp_file]; B's answer names its own RTP peer.'''

files['media_uas.xml'] = header('maskd gateway answers with media', '''  media_uas.xml - B rings, answers with SDP naming its RTP peer, and
  receives the BYE (from A's side, or maskd's at the RTP timeout).
''' + UAS_DOC + UAS_MEDIA_DOC + MEDIA_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=sdp_from_maskd() + GRAB) + RING_B + media_ok_b() + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + MEDIA_REFS)

files['media_hold_uas.xml'] = header('maskd gateway with media, held and resumed', '''  media_hold_uas.xml - B answers with media, is held (a=sendonly, which
  must cross as such) and resumed (a=sendrecv) by re-INVITEs naming maskd
  and the same relay port, then receives the BYE.
''' + UAS_DOC + UAS_MEDIA_DOC + MEDIA_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=sdp_from_maskd() + GRAB) + RING_B + media_ok_b() + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=sdp_from_maskd('sendonly')) + media_ok_b('recvonly', True) + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=sdp_from_maskd('sendrecv')) + media_ok_b('sendrecv', True) + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',dir_sendonly,dir_sendrecv' + MEDIA_REFS)

# ---- late offer: the INVITE has no SDP, the 200 offers, the ACK answers
files['media_late_uac.xml'] = header('maskd media call, late offer', '''  media_late_uac.xml - party A calls the VN without SDP; maskd's 200
  carries B's offer (rewritten), A answers in its ACK, talks (-d) and
  hangs up.
''' + UAC_DOC + MEDIA_DOC) + invite_a().replace('Content-Type: application/sdp\n      Content-Length: [len]\n\n' + sdp('partya'), 'Content-Length: 0\n\n') + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=sdp_from_maskd() + GRAB) + ack_2xx().replace('Content-Length: 0\n', 'Content-Type: application/sdp\n      Content-Length: [len]\n\n' + media_sdp('partya')) + PAUSE + in_dialog_a('BYE', 2) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok' + MEDIA_REFS)

files['media_late_uas.xml'] = header('maskd gateway offers in its 200 (late offer)', '''  media_late_uas.xml - B gets an INVITE without SDP, offers in its 200,
  and finds the answer (rewritten by maskd) in the ACK.
''' + UAS_DOC + UAS_MEDIA_DOC + MEDIA_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra='''
      <ereg regexp="m=audio" search_in="msg" check_it_inverse="true" assign_to="no_sdp"/>''') + RING_B + media_ok_b() + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS, extra=sdp_from_maskd() + GRAB) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',no_sdp' + MEDIA_REFS)

# ---- RFC 4028 session timers, per leg (test_sip.py SipSessionTimers;
# maskd there runs with [sip] session_expires = 6, min_se = 2)
ST_DOC = '''
  Session timers: each leg negotiates its own (RFC 4028); a party's
  refresh that changes no SDP is answered by maskd and never reaches the
  other party, whose scenario would fail on the unexpected request.'''

def invite_st(se=None):
    """A's INVITE: with Session-Expires @se, or not supporting timers."""
    if se is None:
        return invite_a().replace('Supported: replaces, timer', 'Supported: replaces')
    return invite_a().replace('Supported: replaces, timer', 'Supported: replaces, timer\n      Session-Expires: %s' % se)

def se_check(value, name='se'):
    return '\n      <ereg regexp="%s" search_in="hdr" header="Session-Expires:" check_it="true" assign_to="%s"/>' % (value, name)

NO_SE = '\n      <ereg regexp="Session-Expires|Require" search_in="msg" check_it_inverse="true" assign_to="no_se"/>'
REQ_TIMER = '\n      <ereg regexp="timer" search_in="hdr" header="Require:" check_it="true" assign_to="req_timer"/>'
HAS_SDP = '\n      <ereg regexp="m=audio" search_in="msg" check_it="true" assign_to="has_sdp"/>'

def refresh_a(cseq):
    return in_dialog_a('INVITE', cseq, sdp('partya')).replace('User-Agent: PartyA-Phone/1.0', 'User-Agent: PartyA-Phone/1.0\n      Supported: timer\n      Session-Expires: 4;refresher=uac') + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + se_check('^ *4;refresher=uac', 'se%d' % cseq) + HAS_SDP) + ack_2xx(cseq)

files['st_refresh_uac.xml'] = header('maskd session timer, the caller refreshes', '''  st_refresh_uac.xml - party A asks for Session-Expires: 4;refresher=uac,
  gets it in the 200 with Require: timer, refreshes twice (-d apart) with
  a re-INVITE of the same SDP, each answered by maskd with its SDP, and
  hangs up after the interval has passed.
''' + UAC_DOC + ST_DOC) + invite_st('4;refresher=uac') + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=se_check('^ *4;refresher=uac') + REQ_TIMER) + ack_2xx() + PAUSE + refresh_a(2) + PAUSE + refresh_a(3) + PAUSE + in_dialog_a('BYE', 4) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,se,req_timer,se2,se3,has_sdp')

files['st_expire_uac.xml'] = header('maskd session timer, the caller never refreshes', '''  st_expire_uac.xml - party A asks for Session-Expires: 4;refresher=uac and
  never refreshes: maskd BYEs it (and the other leg) before the interval
  is over.
''' + UAC_DOC + ST_DOC) + invite_st('4;refresher=uac') + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=se_check('^ *4;refresher=uac')) + ack_2xx() + recv('BYE', attrs=' crlf="true"') + reply_a('200', 'OK') + TIMEWAIT + footer(UAC_REFS + ',se')

files['st_plain_uac.xml'] = header('maskd call from a caller without timers', '''  st_plain_uac.xml - party A supports no session timer: its 200 has no
  Session-Expires; it talks (-d) and hangs up.
''' + UAC_DOC + ST_DOC) + invite_st() + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=NO_SE) + ack_2xx() + PAUSE + in_dialog_a('BYE', 2) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,no_se')

ST_OFFER = se_check('^ *[0-9]+', 'se_offer') + '\n      <ereg regexp="timer" search_in="hdr" header="Supported:" check_it="true" assign_to="sup_timer"/>'

def ok_st_b(value, in_dialog=False):
    r = uas_resp('200', 'OK', sdp('partyb'), extra_hdr='\n      Session-Expires: %s\n      Require: timer' % value)
    if in_dialog:
        r = r.replace(';tag=[pid]SIPpTag01[call_number]', '')
    return r

files['st_refresher_uas.xml'] = header('maskd gateway makes maskd refresh', '''  st_refresher_uas.xml - B gets maskd's Session-Expires offer, answers
  with Session-Expires: 6;refresher=uac (maskd refreshes), receives the
  refresh re-INVITE (maskd's SDP again) within the interval, answers it,
  and receives the BYE.
''' + UAS_DOC + ST_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=ST_OFFER) + RING_B + ok_st_b('6;refresher=uac') + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=se_check('^ *6;refresher=uac', 'se_refresh') + HAS_SDP) + ok_st_b('6;refresher=uac', True) + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',se_offer,sup_timer,se_refresh,has_sdp')

files['st_422_uas.xml'] = header('maskd gateway wants a longer session interval', '''  st_422_uas.xml - B answers maskd's INVITE 422 with Min-SE: 8; maskd
  tries once more on the same dialog with Session-Expires and Min-SE 8,
  which B answers (refresher=uas: B would refresh), then the BYE.
''' + UAS_DOC + ST_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=ST_OFFER) + uas_resp('422', 'Session Interval Too Small', contact=False, extra_hdr='\n      Min-SE: 8') + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=se_check('^ *8', 'se_retry') + '\n      <ereg regexp="^ *8" search_in="hdr" header="Min-SE:" check_it="true" assign_to="min_retry"/>') + RING_B + ok_st_b('8;refresher=uas') + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',se_offer,sup_timer,se_retry,min_retry')

files['st_update_uas.xml'] = header('maskd refreshes the gateway with UPDATE', '''  st_update_uas.xml - like st_refresher_uas.xml, but B allows UPDATE: the
  refresh is an UPDATE without SDP, answered 200 with no SDP either.
''' + UAS_DOC + ST_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=ST_OFFER) + RING_B + ok_st_b('6;refresher=uac').replace('Require: timer', 'Require: timer\n      Allow: INVITE, ACK, CANCEL, BYE, UPDATE') + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('UPDATE', checks=UAS_CHECKS, extra=se_check('^ *6;refresher=uac', 'se_refresh') + '\n      <ereg regexp="m=audio" search_in="msg" check_it_inverse="true" assign_to="no_sdp"/>') + uas_resp('200', 'OK', extra_hdr='\n      Session-Expires: 6;refresher=uac\n      Require: timer').replace(';tag=[pid]SIPpTag01[call_number]', '') + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',se_offer,sup_timer,se_refresh,no_sdp')

ACK_B = '''  <send>
    <![CDATA[

      ACK [$contact_uri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[callee]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: <[$contact_uri]>;tag=[$from_tag]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

'''

files['st_b_refresh_uas.xml'] = header('maskd gateway refreshes its own leg', '''  st_b_refresh_uas.xml - B answers with Session-Expires: 6;refresher=uas
  (B refreshes), waits (-d) and refreshes with a re-INVITE of the same
  SDP: maskd answers it with its own SDP and the caller never sees it.
  Then B receives the BYE.
''' + UAS_DOC + ST_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=ST_OFFER) + RING_B + ok_st_b('6;refresher=uas') + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + PAUSE + uas_request('INVITE', 1, sdp('partyb')).replace('User-Agent: PartyB-Phone/1.0', 'User-Agent: PartyB-Phone/1.0\n      Supported: timer\n      Session-Expires: 6;refresher=uac') + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + se_check('^ *6;refresher=uac', 'se_refresh') + HAS_SDP) + ACK_B + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',se_offer,sup_timer,se_refresh,has_sdp,cseq_ok')

files['st_422_uac.xml'] = header('maskd refuses a too short session interval', '''  st_422_uac.xml - party A asks for Session-Expires: 1, below maskd's
  Min-SE: maskd answers 422 naming its Min-SE, and nothing goes on.
''' + UAC_DOC + ST_DOC) + invite_st('1') + recv('100', attrs=' optional="true"') + recv('422', extra='\n      <ereg regexp="^ *2" search_in="hdr" header="Min-SE:" check_it="true" assign_to="min_se"/>') + ack_fail() + TIMEWAIT + footer(UAC_REFS + ',min_se')

# ---- behind a proxy (tests/sip/test_tls.py: Kamailio between SIPp on UDP
# and maskd on TLS). The proxy record-routes, so B's INVITE carries its
# Record-Route and B's answers copy it back: maskd's requests on leg b
# then go through the proxy, over TLS.
TLS_UAS_DOC = UAS_DOC + '''
  Behind a record-routing proxy: the INVITE may hold the proxy's
  Record-Route (still none of A's), and B's 2xx copies it back.'''
UAS_INVITE_CHECKS_PROXY = UAS_INVITE_CHECKS.replace('|Record-Route|', '|')
assert UAS_INVITE_CHECKS_PROXY != UAS_INVITE_CHECKS
OK200_B_PROXY = uas_resp('200', 'OK', sdp('partyb'), extra_hdr='\n      [last_Record-Route:]\n      P-Asserted-Identity: <sip:[callee]@[local_ip]>')
uas_invite_proxy = recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS_PROXY)

files['proxy_uas.xml'] = header('maskd gateway behind a proxy answers, other side hangs up', '''  proxy_uas.xml - B rings, sends early media (183 with SDP), answers, and
  receives the BYE.
''' + TLS_UAS_DOC) + uas_invite_proxy + RING_B + uas_resp('183', 'Session Progress', sdp('partyb')) + OK200_B_PROXY + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS)

files['proxy_callee_bye_uas.xml'] = header('maskd gateway behind a proxy answers, then hangs up', '''  proxy_callee_bye_uas.xml - B rings, answers, waits (-d) and hangs up.
''' + TLS_UAS_DOC) + uas_invite_proxy + RING_B + OK200_B_PROXY + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + PAUSE + uas_request('BYE', 1) + recv('200', checks=UAS_CHECKS, extra=ok_for('BYE')) + footer(UAS_REFS + ',cseq_ok')

for name, text in files.items():
    with open(os.path.join(D, name), 'w') as f:
        f.write(text)
print("\n".join(sorted(files)))
