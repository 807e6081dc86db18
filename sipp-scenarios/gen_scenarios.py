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
      <ereg regexp="Remote-Party-ID|P-Preferred-Identity|Privacy|Diversion|History-Info|P-Charging-Vector|Record-Route|Organization|Subject|Call-Info|User-Agent|X-|REFER|Require:[ ,a-zA-Z0-9-]*100rel|replaces" search_in="msg" check_it_inverse="true" assign_to="leak_hdr2"/>
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

# the caller CANCELs after 100 Trying alone: maskd is still asking the
# routing hook (tests/ctl/test_hook.py)
files['hook_cancel_uac.xml'] = header('maskd call cancelled while the routing hook is asked', '''  hook_cancel_uac.xml - party A calls, gets 100 Trying (nothing else may
  come: maskd is asking its routing hook), waits (-d) and CANCELs; it
  must get 200 for the CANCEL and 487 for the INVITE.
''' + UAC_DOC) + invite_a() + recv('100') + PAUSE + '''  <send>
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

def pcma(x):
    """An SDP (or a check of one) with PCMA where PCMU was."""
    return x.replace('RTP/AVP 0 101', 'RTP/AVP 8 101').replace(
        'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000')

files['media_pcma_uac.xml'] = uac_media_head('maskd media call, caller switches to PCMA', '''  media_pcma_uac.xml - party A calls with PCMU, talks (-d), re-INVITEs
  offering PCMA only (maskd must pass it on and answer PCMA), marks the
  switch in [rtp_file].resumed, talks (2 x -d) and hangs up.
''') + PAUSE + in_dialog_a('INVITE', 2, pcma(media_sdp('partya'))) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + pcma(sdp_from_maskd()) + MARK_RESUMED) + ack_2xx(2) + PAUSE + PAUSE + in_dialog_a('BYE', 3) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok' + MEDIA_REFS)

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

files['media_pcma_uas.xml'] = header('maskd gateway with media, switched to PCMA', '''  media_pcma_uas.xml - B answers with PCMU, gets a re-INVITE offering
  PCMA only (naming maskd and the same relay port), answers PCMA, then
  receives the BYE.
''' + UAS_DOC + UAS_MEDIA_DOC + MEDIA_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=sdp_from_maskd() + GRAB) + RING_B + media_ok_b() + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=pcma(sdp_from_maskd())) + pcma(media_ok_b('sendrecv', True)) + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + MEDIA_REFS)

def g722(x):
    """An SDP (or a check of one) with G.722 where PCMU was."""
    return x.replace('RTP/AVP 0 101', 'RTP/AVP 9 101').replace(
        'a=rtpmap:0 PCMU/8000', 'a=rtpmap:9 G722/8000')

files['media_g722_uac.xml'] = g722(files['media_uac.xml']).replace(
    'media_uac.xml - party A calls the VN with SDP naming its RTP peer,',
    'media_g722_uac.xml - media_uac.xml offering G.722; party A calls the VN\n  with SDP naming its RTP peer,', 1)
files['media_g722_uas.xml'] = g722(files['media_uas.xml']).replace(
    'media_uas.xml - B rings, answers with SDP naming its RTP peer, and',
    'media_g722_uas.xml - media_uas.xml answering G.722; B rings, answers\n  with SDP naming its RTP peer, and', 1)

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

# ---- RFC 3262 reliable provisional responses, each leg on its own
# (tests/sip/test_prack.py). maskd PRACKs B's reliable 18x on B's leg and
# answers A's PRACKs itself: no PRACK, RSeq or RAck crosses. A's PRACKs
# carry A's baits (User-Agent, X-PartyA-Secret), so one that crossed would
# fail B's leak checks (and B's scenario, which expects no such request).
PRACK_DOC = """
  100rel: each leg does its own (RFC 3262). maskd PRACKs B's reliable 18x
  on B's leg and answers A's PRACKs itself; nothing of one leg's PRACKs
  (RSeq, RAck, the PRACK itself) reaches the other party."""

def invite_100rel(require=False):
    sup = 'Supported: replaces, timer, 100rel'
    if require:
        sup += '\n      Require: 100rel'
    # a transaction, so a late retransmission of a reliable 18x is ignored
    return invite_a().replace('Supported: replaces, timer', sup).replace(
        '<send retrans="500">', '<send retrans="500" start_txn="invite">', 1)

def rel_a(code, n, with_sdp):
    """A reliable 18x at A: Require: 100rel and an RSeq, kept as rseqN."""
    x = """
      <ereg regexp="100rel" search_in="hdr" header="Require:" check_it="true" assign_to="req%(n)d"/>
      <ereg regexp="^ *([0-9]+)" search_in="hdr" header="RSeq:" check_it="true" assign_to="junk_rs%(n)d,rseq%(n)d"/>""" % {'n': n}
    if with_sdp:
        x += """
      <ereg regexp="m=audio" search_in="body" check_it="true" assign_to="sdp%d"/>""" % n
    return recv(code, attrs=' response_txn="invite" rrs="true"', extra=x)

def rel_a_refs(n, with_sdp):
    return ',req%d,junk_rs%d,rseq%d' % (n, n, n) + (',sdp%d' % n if with_sdp else '')

PLAIN_18X = """
      <ereg regexp="RSeq|Require: *100rel" search_in="msg" check_it_inverse="true" assign_to="plain"/>"""

def prack_a(cseq, n):
    return """  <send retrans="500">
    <![CDATA[

      PRACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d PRACK
      RAck: [$rseq%d] 1 INVITE
      Max-Forwards: 70
      User-Agent: PartyA-Phone/1.0
      X-PartyA-Secret: [caller]
      Content-Length: 0

    ]]>
  </send>
""" % (FROM_A, TO_A, cseq, n) + recv('200', extra=ok_for('PRACK'))

def ok_inv_a():
    return recv('200', attrs=' rtd="true" rrs="true" response_txn="invite"', extra=ok_for('INVITE') + '\n      <ereg regexp="application/sdp" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ctype"/>')

ACK_TXN = ack_2xx().replace('  <send>', '  <send ack_txn="invite">', 1)
ACK_FAIL_TXN = ack_fail().replace('  <send>', '  <send ack_txn="invite">', 1)
CANCEL_A = """  <send>
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

""" % (FROM_A, TO_A)

files['prack_uac.xml'] = header('maskd call, the caller supports 100rel', """  prack_uac.xml - party A supports 100rel: the 180 (no SDP) comes as it
  is, the 183 with early media reliably (Require: 100rel, RSeq). A PRACKs
  it, gets the 200 to the PRACK from maskd and only then the 200 to the
  INVITE; ACK, talk (-d), BYE.
""" + UAC_DOC + PRACK_DOC) + invite_100rel() + recv('100', attrs=' optional="true" response_txn="invite"') + recv('180', attrs=' response_txn="invite"', extra=PLAIN_18X) + rel_a('183', 1, True) + prack_a(2, 1) + ok_inv_a() + ACK_TXN + PAUSE + in_dialog_a('BYE', 3) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',plain,cseq_ok,ctype' + rel_a_refs(1, True))

files['prack_req_uac.xml'] = header('maskd call, the caller requires 100rel', """  prack_req_uac.xml - party A requires 100rel: every 18x comes reliably,
  each PRACKed and answered by maskd: the 180, then the 183 with early
  media (held by maskd until the 180's PRACK), then the 200; ACK, talk
  (-d), BYE.
""" + UAC_DOC + PRACK_DOC) + invite_100rel(True) + recv('100', attrs=' optional="true" response_txn="invite"') + rel_a('180', 1, False) + prack_a(2, 1) + rel_a('183', 2, True) + prack_a(3, 2) + ok_inv_a() + ACK_TXN + PAUSE + in_dialog_a('BYE', 4) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,ctype' + rel_a_refs(1, False) + rel_a_refs(2, True))

files['prack_cancel_uac.xml'] = header('maskd call cancelled while a reliable 183 awaits its PRACK', """  prack_cancel_uac.xml - party A supports 100rel, may hear a plain 180,
  gets the 183 reliably, never PRACKs it, waits (-d) and CANCELs: 200 to
  the CANCEL, 487 (never a 200, even if the callee has answered).
""" + UAC_DOC + PRACK_DOC) + invite_100rel() + recv('100', attrs=' optional="true" response_txn="invite"') + recv('180', attrs=' optional="true" response_txn="invite"', extra=PLAIN_18X) + rel_a('183', 1, True) + PAUSE + CANCEL_A + recv('200', extra=ok_for('CANCEL')) + recv('487', attrs=' response_txn="invite"') + ACK_FAIL_TXN + TIMEWAIT + footer(UAC_REFS + ',cseq_ok,plain' + rel_a_refs(1, True))

files['prack_silent_uac.xml'] = header('maskd call whose caller never PRACKs', """  prack_silent_uac.xml - party A supports 100rel, gets the 183 reliably and
  never PRACKs it; maskd gives up with a final failure, which A ACKs.
  Keys:   -key code N    the final status A must get: 480 (the ring
                         timeout came first) or 503 (no PRACK within
                         64*T1, RFC 3262 section 3)
""" + UAC_DOC + PRACK_DOC) + invite_100rel() + recv('100', attrs=' optional="true" response_txn="invite"') + rel_a('183', 1, True) + ''.join(recv(c, attrs=' optional="true" next="ack" response_txn="invite"', extra="""
      <ereg regexp="^SIP/2\\.0 ([0-9]+)" search_in="msg" check_it="true" assign_to="junk,status"/>""") for c in ('480', '503')) + """  <!-- any other answer, or none, fails the call -->
  <recv response="999"/>

  <label id="ack"/>
  <nop>
    <action>
      <assignstr assign_to="want" value="[code]"/>
      <strcmp variable="status" variable2="want" check_it="true"/>
    </action>
  </nop>
""" + ACK_FAIL_TXN + TIMEWAIT + footer(UAC_REFS + ',junk' + rel_a_refs(1, True))

NO_SDP_A = """
      <ereg regexp="m=audio" search_in="msg" check_it_inverse="true" assign_to="no_sdp"/>"""
INVITE_LATE_REQ = invite_100rel(True).replace('Content-Type: application/sdp\n      Content-Length: [len]\n\n' + sdp('partya'), 'Content-Length: 0\n\n')
files['prack_late_uac.xml'] = header('maskd call, the caller requires 100rel and makes no offer', """  prack_late_uac.xml - party A requires 100rel and sends no SDP (late
  offer): every 18x comes reliably and none carries SDP (it would be an
  offer only the callee could answer); each PRACKed. The 200 offers, the
  ACK answers; talk (-d), BYE.
""" + UAC_DOC + PRACK_DOC) + INVITE_LATE_REQ + recv('100', attrs=' optional="true" response_txn="invite"') + rel_a('180', 1, False) + prack_a(2, 1) + recv('183', attrs=' response_txn="invite" rrs="true"', extra="""
      <ereg regexp="100rel" search_in="hdr" header="Require:" check_it="true" assign_to="req2"/>
      <ereg regexp="^ *([0-9]+)" search_in="hdr" header="RSeq:" check_it="true" assign_to="junk_rs2,rseq2"/>""" + NO_SDP_A) + prack_a(3, 2) + ok_inv_a() + ACK_TXN.replace('Content-Length: 0\n', 'Content-Type: application/sdp\n      Content-Length: [len]\n\n' + sdp('partya')) + PAUSE + in_dialog_a('BYE', 4) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"') + footer(UAC_REFS + ',cseq_ok,ctype,no_sdp' + rel_a_refs(1, False) + rel_a_refs(2, False))

# B: the INVITE offers 100rel (maskd's own Supported: it carries an offer)
SUP_100REL = """
      <ereg regexp="Supported:[ ,a-zA-Z0-9-]*100rel" search_in="msg" check_it="true" assign_to="sup_100rel"/>"""
CAPTURE_INV = SUP_100REL + """
      <ereg regexp="[^ ].*" search_in="hdr" header="Via:" check_it="true" assign_to="inv_via"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" check_it="true" assign_to="inv_from"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" check_it="true" assign_to="inv_to"/>"""
REL183_B = uas_resp('183', 'Session Progress', sdp('partyb'), extra_hdr='\n      Require: 100rel\n      RSeq: 1')
# maskd's PRACK: in B's early dialog, acknowledging B's RSeq 1 of the
# INVITE's CSeq, without a body or anything of A's
PRACK_AT_B = recv('PRACK', checks=UAS_CHECKS, extra="""
      <ereg regexp="^ *1 ([0-9]+) INVITE" search_in="hdr" header="RAck:" check_it="true" assign_to="junk_ra,rack_cseq"/>
      <strcmp variable="rack_cseq" variable2="inv_cseq" check_it="true"/>
      <ereg regexp="tag=[0-9]+SIPpTag01" search_in="hdr" header="To:" check_it="true" assign_to="prack_tag"/>
      <ereg regexp="m=audio|RSeq|Require" search_in="msg" check_it_inverse="true" assign_to="prack_clean"/>""") + uas_reply_plain('200', 'OK')
PRACK_B_REFS = ',sup_100rel,junk_ra,rack_cseq,prack_tag,prack_clean'
OK200_B_AFTER_PRACK = """  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$inv_via]
      From: [$inv_from]
      To: [$inv_to];tag=[pid]SIPpTag01[call_number]
      Call-ID: [call_id]
      CSeq: [$inv_cseq] INVITE
      Contact: <sip:[callee]@[local_ip]:[local_port]>
      Server: PartyB-Switch/2.0
      Record-Route: <sip:[local_ip]:[local_port];lr>
      P-Asserted-Identity: <sip:[callee]@[local_ip]>
      Content-Type: application/sdp
      Content-Length: [len]

%s
    ]]>
  </send>
""" % sdp('partyb')

files['prack_uas.xml'] = header('maskd gateway sends its 183 reliably', """  prack_uas.xml - B rings (180), sends early media reliably (183 with SDP,
  Require: 100rel, RSeq: 1), gets maskd's PRACK for it and answers it,
  then answers the call and receives the BYE.
""" + UAS_DOC + PRACK_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=CAPTURE_INV) + RING_B + REL183_B + PRACK_AT_B + OK200_B_AFTER_PRACK + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',inv_via,inv_from,inv_to' + PRACK_B_REFS)

files['prack_cancel_uas.xml'] = header('maskd gateway rings with a reliable 183 until cancelled', """  prack_cancel_uas.xml - B sends early media reliably (183, RSeq: 1), gets
  maskd's PRACK, answers it, and rings until maskd CANCELs (the caller
  gave up, or maskd did): 200 to the CANCEL, 487 to the INVITE.
""" + UAS_DOC + PRACK_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=SUP_100REL) + REL183_B + PRACK_AT_B + recv('CANCEL', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + """  <send>
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

""" + recv('ACK', checks=UAS_CHECKS) + TIMEWAIT + footer(UAS_REFS + PRACK_B_REFS)

files['prack_slow_uas.xml'] = header('maskd gateway without 100rel, slow to answer', """  prack_slow_uas.xml - B does not do 100rel: it rings (180), sends early
  media (183 with SDP), both unreliable, waits (-d), answers, and
  receives the BYE. Its INVITE still offers 100rel (maskd's own).
""" + UAS_DOC + PRACK_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=SUP_100REL) + RING_B + uas_resp('183', 'Session Progress', sdp('partyb')) + PAUSE + OK200_B + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',sup_100rel')

files['prack_late_uas.xml'] = header('maskd gateway offers late, without 100rel', """  prack_late_uas.xml - B gets an INVITE without SDP, which offers no
  100rel either (maskd offers it only with an offer of its own); it rings
  (180), sends early media (183 with SDP), waits (-d), offers in its 200
  and finds maskd's answer in the ACK; then the BYE.
""" + UAS_DOC + PRACK_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra="""
      <ereg regexp="m=audio|100rel" search_in="msg" check_it_inverse="true" assign_to="no_sdp"/>""") + RING_B + uas_resp('183', 'Session Progress', sdp('partyb')) + PAUSE + OK200_B + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS, extra=HAS_SDP) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',no_sdp,has_sdp')

# ---- in-dialog flows both ways, the CANCEL/200 race, retransmissions
# (tests/sip/test_flows.py). Party A is checked by UAC_CHECKS and party
# B by UAS_CHECKS on every message, as everywhere above; these add what
# each flow must deliver.
FLOW_DOC = '''
  Flows:  each in-dialog request of one party reaches the other as
          maskd's own (its dialog, its Contact), its answer comes back;
          every SDP either party receives names maskd (127.0.0.1) in c=
          and o=, never the other party.'''

# the SDP a party receives is maskd's: its address in c= and o=
FLOW_SDP = '''
      <ereg regexp="o=maskd [0-9]+ [0-9]+ IN IP4 127\\.0\\.0\\.1[^0-9]" search_in="msg" check_it="true" assign_to="maskd_o"/>
      <ereg regexp="c=IN IP4 127\\.0\\.0\\.1[^0-9]" search_in="msg" check_it="true" assign_to="maskd_c"/>'''
FLOW_NO_SDP = '''
      <ereg regexp="m=audio|Content-Type: *application/sdp" search_in="msg" check_it_inverse="true" assign_to="no_sdp"/>'''
FLOW_REFS = ',maskd_o,maskd_c'

def flow_dir(d):
    return '\n      <ereg regexp="a=%s" search_in="msg" check_it="true" assign_to="dir_%s"/>' % (d, d)

def flow_body(ctype, body):
    """Content-Type/Length lines and the body of a message template."""
    if body is None:
        return 'Content-Length: 0', ''
    return ('Content-Type: %s\n      Content-Length: [len]' % ctype,
            '\n' + body)

def flow_req_a(method, cseq, ctype=None, body=None, extra=''):
    """An in-dialog request of A's, with any body."""
    ct, b = flow_body(ctype, body)
    retrans = ' retrans="500"'
    return '''  <send%s>
    <![CDATA[

      %s [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d %s
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: PartyA-Phone/1.0%s
      %s
%s
    ]]>
  </send>
''' % (retrans, method, FROM_A, TO_A, cseq, method, extra, ct, b)

def flow_ack_a(cseq, body=None):
    ct, b = flow_body('application/sdp', body)
    return '''  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      %s
      %s[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %d ACK
      Max-Forwards: 70
      %s
%s
    ]]>
  </send>
''' % (FROM_A, TO_A, cseq, ct, b)

def flow_reply_a(code, reason, ctype=None, body=None, extra='',
                 invite=False):
    """A's answer to an in-dialog request from maskd; a 2xx to an
    INVITE is retransmitted until the ACK."""
    ct, b = flow_body(ctype, body)
    return '''  <send%s>
    <![CDATA[

      SIP/2.0 %s %s
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      User-Agent: PartyA-Phone/1.0%s
      %s
%s
    ]]>
  </send>
''' % (' retrans="500"' if invite else '', code, reason, extra, ct, b)

def flow_req_b(method, cseq, ctype=None, body=None, extra=''):
    """An in-dialog request of B's, to maskd's Contact."""
    ct, b = flow_body(ctype, body)
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
      User-Agent: PartyB-Phone/1.0%s
      %s
%s
    ]]>
  </send>
''' % (method, cseq, method, extra, ct, b)

def flow_ack_b(cseq, body=None):
    ct, b = flow_body('application/sdp', body)
    return '''  <send>
    <![CDATA[

      ACK [$contact_uri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[callee]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: <[$contact_uri]>;tag=[$from_tag]
      Call-ID: [call_id]
      CSeq: %d ACK
      Max-Forwards: 70
      %s
%s
    ]]>
  </send>
''' % (cseq, ct, b)

def flow_reply_b(code, reason, ctype=None, body=None, extra='',
                 invite=False):
    """B's answer to an in-dialog request from maskd."""
    ct, b = flow_body(ctype, body)
    return '''  <send%s>
    <![CDATA[

      SIP/2.0 %s %s
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[callee]@[local_ip]:[local_port]>
      Server: PartyB-Switch/2.0%s
      %s
%s
    ]]>
  </send>
''' % (' retrans="500"' if invite else '', code, reason, extra, ct, b)

SDP_CT = 'application/sdp'

def flow_uac_head(name, doc):
    return header(name, doc + UAC_DOC + FLOW_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=FLOW_SDP) + ack_2xx()

def flow_uas_head(name, doc):
    return header(name, doc + UAS_DOC + FLOW_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=FLOW_SDP) + RING_B + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS)

def flow_bye_a(cseq):
    return flow_req_a('BYE', cseq) + recv('200', extra=ok_for('BYE'), attrs=' crlf="true"')

def flow_bye_at_b():
    return recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT

def flow_bye_at_a():
    return recv('BYE', attrs=' crlf="true"') + reply_a('200', 'OK') + TIMEWAIT

# -- 1. UPDATE with SDP mid-call: hold (a=sendonly) and resume, either way
files['flow_update_uac.xml'] = flow_uac_head('maskd call, the caller holds and resumes by UPDATE', '''  flow_update_uac.xml - party A calls, holds B with an UPDATE (a=sendonly;
  maskd's 200 must answer a=recvonly), waits (-d), resumes with another
  (a=sendrecv) and hangs up.
''') + PAUSE + flow_req_a('UPDATE', 2, SDP_CT, sdp('partya', 'sendonly')) + recv('200', extra=ok_for('UPDATE') + FLOW_SDP + flow_dir('recvonly')) + PAUSE + flow_req_a('UPDATE', 3, SDP_CT, sdp('partya', 'sendrecv')) + recv('200', extra=ok_for('UPDATE') + FLOW_SDP + flow_dir('sendrecv')) + flow_bye_a(4) + footer(UAC_REFS + ',cseq_ok,dir_recvonly,dir_sendrecv' + FLOW_REFS)

files['flow_update_uas.xml'] = flow_uas_head('maskd gateway, held and resumed by UPDATE', '''  flow_update_uas.xml - B answers, receives an UPDATE holding it
  (a=sendonly, maskd's SDP), answers a=recvonly, then one resuming it
  (a=sendrecv), answers that, and receives the BYE.
''') + recv('UPDATE', checks=UAS_CHECKS, extra=FLOW_SDP + flow_dir('sendonly')) + flow_reply_b('200', 'OK', SDP_CT, sdp('partyb', 'recvonly')) + recv('UPDATE', checks=UAS_CHECKS, extra=FLOW_SDP + flow_dir('sendrecv')) + flow_reply_b('200', 'OK', SDP_CT, sdp('partyb', 'sendrecv')) + flow_bye_at_b() + footer(UAS_REFS + ',dir_sendonly,dir_sendrecv' + FLOW_REFS)

files['flow_update_b_uac.xml'] = flow_uac_head('maskd call, the other side holds and resumes by UPDATE', '''  flow_update_b_uac.xml - party A calls, is held by an UPDATE from B's
  side (a=sendonly, maskd's SDP), answers a=recvonly, is resumed
  (a=sendrecv), answers, waits (-d) and hangs up.
''') + recv('UPDATE', extra=FLOW_SDP + flow_dir('sendonly')) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya', 'recvonly')) + recv('UPDATE', extra=FLOW_SDP + flow_dir('sendrecv')) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya', 'sendrecv')) + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok,dir_sendonly,dir_sendrecv' + FLOW_REFS)

files['flow_update_b_uas.xml'] = flow_uas_head('maskd gateway holds and resumes by UPDATE', '''  flow_update_b_uas.xml - B answers, waits (-d), holds A with an UPDATE
  (a=sendonly), gets A's a=recvonly answer as maskd's SDP, resumes with
  another (a=sendrecv), and receives the BYE.
''') + PAUSE + flow_req_b('UPDATE', 1, SDP_CT, sdp('partyb', 'sendonly')) + recv('200', checks=UAS_CHECKS, extra=ok_for('UPDATE') + FLOW_SDP + flow_dir('recvonly')) + flow_req_b('UPDATE', 2, SDP_CT, sdp('partyb', 'sendrecv')) + recv('200', checks=UAS_CHECKS, extra=ok_for('UPDATE') + FLOW_SDP + flow_dir('sendrecv')) + flow_bye_at_b() + footer(UAS_REFS + ',cseq_ok,dir_recvonly,dir_sendrecv' + FLOW_REFS)

# -- 2. INFO (DTMF) and OPTIONS in the dialog, both ways
DTMF_CT = 'application/dtmf-relay'
def dtmf(digit):
    return '      Signal=%s\n      Duration=160\n' % digit

def flow_has(what, name):
    return '\n      <ereg regexp="%s" search_in="msg" check_it="true" assign_to="%s"/>' % (what, name)

# what a party says of itself in its answer to OPTIONS: methods maskd
# does not relay, and an SDP naming the party (RFC 3261 section 11.2)
OPTIONS_OK_HDRS = '\n      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, SUBSCRIBE, NOTIFY, MESSAGE\n      Accept: application/sdp\n      Supported: replaces, timer'
# what comes back: maskd's own Allow, never the party's, and no SDP
OPTIONS_OK_CHECKS = ok_for("OPTIONS") + FLOW_NO_SDP + '\n      <ereg regexp="INFO" search_in="hdr" header="Allow:" check_it="true" assign_to="allow"/>' + '''
      <ereg regexp="REFER|SUBSCRIBE|NOTIFY|MESSAGE|replaces" search_in="msg" check_it_inverse="true" assign_to="no_party_allow"/>'''

files['flow_info_uac.xml'] = flow_uac_head('maskd call, INFO and OPTIONS both ways', '''  flow_info_uac.xml - party A calls, waits (-d), sends a DTMF digit by
  INFO (application/dtmf-relay: it must cross as it is) and an in-dialog
  OPTIONS, gets both answered; then receives B's INFO (digit 9) and
  OPTIONS, answers them (its OPTIONS answer with an SDP naming A, which
  must not cross), and hangs up.
''') + PAUSE + flow_req_a('INFO', 2, DTMF_CT, dtmf('5')) + recv('200', extra=ok_for('INFO')) + flow_req_a('OPTIONS', 3, extra='\n      Accept: application/sdp') + recv('200', extra=OPTIONS_OK_CHECKS) + recv('INFO', extra=flow_has('Signal=9', 'digit') + flow_has('application/dtmf-relay', 'dtmf_ct')) + flow_reply_a('200', 'OK') + recv('OPTIONS') + flow_reply_a('200', 'OK', SDP_CT, sdp('partya'), extra=OPTIONS_OK_HDRS) + flow_bye_a(4) + footer(UAC_REFS + ',cseq_ok,no_sdp,allow,no_party_allow,digit,dtmf_ct' + FLOW_REFS)

files['flow_info_uas.xml'] = flow_uas_head('maskd gateway, INFO and OPTIONS both ways', '''  flow_info_uas.xml - B answers, receives A's INFO (digit 5, as A sent it)
  and OPTIONS, answers them (the OPTIONS answer with an SDP naming B,
  which must not cross), sends its own INFO (digit 9) and OPTIONS, gets
  both answered, and receives the BYE.
''') + recv('INFO', checks=UAS_CHECKS, extra=flow_has('Signal=5', 'digit') + flow_has('application/dtmf-relay', 'dtmf_ct')) + flow_reply_b('200', 'OK') + recv('OPTIONS', checks=UAS_CHECKS) + flow_reply_b('200', 'OK', SDP_CT, sdp('partyb'), extra=OPTIONS_OK_HDRS) + flow_req_b('INFO', 1, DTMF_CT, dtmf('9')) + recv('200', checks=UAS_CHECKS, extra=ok_for('INFO')) + flow_req_b('OPTIONS', 2, extra='\n      Accept: application/sdp') + recv('200', checks=UAS_CHECKS, extra=OPTIONS_OK_CHECKS) + flow_bye_at_b() + footer(UAS_REFS + ',cseq_ok,no_sdp,allow,no_party_allow,digit,dtmf_ct' + FLOW_REFS)

# -- 3. re-INVITE from the callee (hold and resume), and without SDP
files['flow_reinvite_b_uac.xml'] = flow_uac_head('maskd call, the other side holds and resumes by re-INVITE', '''  flow_reinvite_b_uac.xml - party A calls, is held by a re-INVITE from
  B's side (a=sendonly, maskd's SDP), answers a=recvonly, is resumed
  (a=sendrecv), answers, waits (-d) and hangs up.
''') + recv('INVITE', extra=FLOW_SDP + flow_dir('sendonly')) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya', 'recvonly'), invite=True) + recv('ACK') + recv('INVITE', extra=FLOW_SDP + flow_dir('sendrecv')) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya', 'sendrecv'), invite=True) + recv('ACK') + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok,dir_sendonly,dir_sendrecv' + FLOW_REFS)

files['flow_reinvite_b_uas.xml'] = flow_uas_head('maskd gateway holds and resumes by re-INVITE', '''  flow_reinvite_b_uas.xml - B answers, waits (-d), holds A with a
  re-INVITE (a=sendonly), gets A's a=recvonly answer as maskd's SDP, ACKs,
  resumes (a=sendrecv), ACKs, and receives the BYE.
''') + PAUSE + flow_req_b('INVITE', 1, SDP_CT, sdp('partyb', 'sendonly')) + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + FLOW_SDP + flow_dir('recvonly')) + flow_ack_b(1) + flow_req_b('INVITE', 2, SDP_CT, sdp('partyb', 'sendrecv')) + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + FLOW_SDP + flow_dir('sendrecv')) + flow_ack_b(2) + flow_bye_at_b() + footer(UAS_REFS + ',cseq_ok,dir_recvonly,dir_sendrecv' + FLOW_REFS)

# a re-INVITE without SDP (RFC 3261 section 14.1, RFC 3264 section 5):
# the offer is in the 200, the answer in the ACK
LATE_DOC = '''
  A re-INVITE without SDP asks the other party for an offer: it comes in
  the 200 (as maskd's SDP) and the answer goes in the ACK.'''

files['flow_late_reinvite_uac.xml'] = flow_uac_head('maskd call, the caller re-INVITEs without SDP', '''  flow_late_reinvite_uac.xml - party A calls, waits (-d), sends a
  re-INVITE without SDP, finds B's offer (maskd's SDP) in the 200,
  answers in the ACK, and hangs up.
''' + LATE_DOC) + PAUSE + flow_req_a('INVITE', 2) + recv('100', attrs=' optional="true"') + recv('200', extra=ok_for('INVITE') + FLOW_SDP) + flow_ack_a(2, sdp('partya')) + PAUSE + flow_bye_a(3) + footer(UAC_REFS + ',cseq_ok' + FLOW_REFS)

files['flow_late_reinvite_uas.xml'] = flow_uas_head('maskd gateway offers in its 200 to a re-INVITE', '''  flow_late_reinvite_uas.xml - B answers; receives a re-INVITE without
  SDP, offers in its 200, finds A's answer (maskd's SDP) in the ACK, and
  receives the BYE.
''' + LATE_DOC) + recv('INVITE', checks=UAS_CHECKS, extra=FLOW_NO_SDP) + flow_reply_b('200', 'OK', SDP_CT, sdp('partyb'), invite=True) + recv('ACK', checks=UAS_CHECKS, extra=FLOW_SDP) + flow_bye_at_b() + footer(UAS_REFS + ',no_sdp' + FLOW_REFS)

files['flow_late_reinvite_b_uac.xml'] = flow_uac_head('maskd call, the other side re-INVITEs without SDP', '''  flow_late_reinvite_b_uac.xml - party A calls; receives a re-INVITE
  without SDP, offers in its 200, finds B's answer (maskd's SDP) in the
  ACK, waits (-d) and hangs up.
''' + LATE_DOC) + recv('INVITE', extra=FLOW_NO_SDP) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya'), invite=True) + recv('ACK', extra=FLOW_SDP) + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok,no_sdp' + FLOW_REFS)

files['flow_late_reinvite_b_uas.xml'] = flow_uas_head('maskd gateway re-INVITEs without SDP', '''  flow_late_reinvite_b_uas.xml - B answers, waits (-d), sends a
  re-INVITE without SDP, finds A's offer (maskd's SDP) in the 200,
  answers in the ACK, and receives the BYE.
''' + LATE_DOC) + PAUSE + flow_req_b('INVITE', 1) + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + FLOW_SDP) + flow_ack_b(1, sdp('partyb')) + flow_bye_at_b() + footer(UAS_REFS + ',cseq_ok' + FLOW_REFS)

# a target refresh (RFC 3261 sections 12.2.1.2 and 12.2.2): a party's
# re-INVITE, or its 2xx to one, with a new Contact moves where maskd
# sends that party's next requests
TARGET_DOC = '''
  Target refresh: B's re-INVITE names a new Contact (sip:b-moved@...),
  and so does A's 200 to it (sip:a-moved@...); maskd's ACK and every
  later request of the dialog go to the new one.'''

def flow_new_target(method, user):
    return '\n      <ereg regexp="^%s sip:%s@" search_in="msg" check_it="true" assign_to="target_%s"/>' % (method, user, method.lower())

files['flow_target_uac.xml'] = flow_uac_head('maskd call, both parties move their Contact', '''  flow_target_uac.xml - party A calls; is held by a re-INVITE from B's
  side and answers it with a new Contact; gets maskd's ACK and then B's
  INFO there; waits (-d) and hangs up.
''' + TARGET_DOC) + recv('INVITE', extra=FLOW_SDP + flow_dir('sendonly')) + flow_reply_a('200', 'OK', SDP_CT, sdp('partya', 'recvonly'), invite=True).replace('Contact: <sip:[caller]@', 'Contact: <sip:a-moved@') + recv('ACK', extra=flow_new_target('ACK', 'a-moved')) + recv('INFO', extra=flow_new_target('INFO', 'a-moved')) + flow_reply_a('200', 'OK') + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok,dir_sendonly,target_ack,target_info' + FLOW_REFS)

files['flow_target_uas.xml'] = flow_uas_head('maskd gateway moves its Contact', '''  flow_target_uas.xml - B answers, waits (-d), holds A with a re-INVITE
  naming a new Contact, ACKs A's answer, sends an INFO, and must get the
  BYE at its new Contact.
''' + TARGET_DOC) + PAUSE + flow_req_b('INVITE', 1, SDP_CT, sdp('partyb', 'sendonly')).replace('Contact: <sip:[callee]@', 'Contact: <sip:b-moved@') + recv('100', attrs=' optional="true"', checks=UAS_CHECKS) + recv('200', checks=UAS_CHECKS, extra=ok_for('INVITE') + FLOW_SDP + flow_dir('recvonly')) + flow_ack_b(1) + flow_req_b('INFO', 2, DTMF_CT, dtmf('2')) + recv('200', checks=UAS_CHECKS, extra=ok_for('INFO')) + recv('BYE', checks=UAS_CHECKS, extra=flow_new_target('BYE', 'b-moved')) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(UAS_REFS + ',cseq_ok,dir_recvonly,target_bye' + FLOW_REFS)

# -- 4. the CANCEL/200 race (the caller's side is cancel_uac.xml)
files['flow_cancel_race_uas.xml'] = header('maskd gateway answers as the CANCEL arrives', '''  flow_cancel_race_uas.xml - B rings; maskd's CANCEL crosses B's answer:
  B answers the CANCEL 200 and the INVITE 200 (with SDP) rather than 487
  (its answer was on its way: RFC 3261 section 9.2 leaves the INVITE
  answered). maskd, whose caller has given up, must ACK that 200 and BYE
  the dialog. (The 200 to the CANCEL goes first only because SIPp takes
  an ACK that comes between two sends of its for an unexpected message.)
''' + UAS_DOC) + uas_invite() + RING_B + recv('CANCEL', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + '''  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$inv_cseq] INVITE
      Contact: <sip:[callee]@[local_ip]:[local_port]>
      Server: PartyB-Switch/2.0
      Content-Type: application/sdp
      Content-Length: [len]

''' + sdp('partyb') + '''
    ]]>
  </send>

''' + recv('ACK', checks=UAS_CHECKS, extra='''
      <ereg regexp="^ *[0-9]+ ACK" search_in="hdr" header="CSeq:" check_it="true" assign_to="ack_cseq"/>''') + flow_bye_at_b() + footer(UAS_REFS + ',ack_cseq')

# the mirror race on the caller's side: A's CANCEL crosses maskd's 200
CANCEL_A = '''  <send>
    <![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];%s
      %s
      %s
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

''' % ('branch=z9hG4bK-inv-[pid]-[call_number]', FROM_A, TO_A)
files['flow_cancel_late_uac.xml'] = header('maskd call, the caller cancels too late', '''  flow_cancel_late_uac.xml - party A calls, loses whatever comes back for
  800 ms (run with -pause_msg_ign: the answer is on its way), CANCELs,
  gets the CANCEL answered (200, or 481 as the INVITE has its 2xx
  already) and maskd's 200 retransmitted, which it must ACK: the call
  stands (RFC 3261 section 9.1). It talks (-d) and hangs up.
''' + UAC_DOC) + invite_a().replace('branch=[branch]', 'branch=z9hG4bK-inv-[pid]-[call_number]').replace('<send retrans="500">', '<send>') + '  <pause milliseconds="800"/>\n\n' + CANCEL_A + recv('200', attrs=' optional="true" next="cancelled"', extra=ok_for('CANCEL')) + recv('481', extra=ok_for('CANCEL')) + '  <label id="cancelled"/>\n' + recv('200', attrs=' rtd="true" rrs="true"', extra=ok_for('INVITE') + FLOW_SDP) + ack_2xx() + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok' + FLOW_REFS)

# -- 6. retransmissions
DUP_BRANCH = 'branch=z9hG4bK-dup-[pid]-[call_number]'
files['flow_dup_invite_uac.xml'] = header('maskd call, the caller retransmits its INVITE', '''  flow_dup_invite_uac.xml - party A sends its INVITE, loses whatever comes
  back for 800 ms (run with -pause_msg_ign: what arrives during a pause
  is dropped), and sends it again byte for byte (the same branch: a
  retransmission); then completes the call as basic_uac.xml does. maskd
  must make one call of it: the gateway (basic_uas.xml or
  flow_slow_answer_uas.xml) would fail on a second INVITE.
''' + UAC_DOC) + invite_a().replace('branch=[branch]', DUP_BRANCH).replace('<send retrans="500">', '<send>') + '  <pause milliseconds="800"/>\n\n' + invite_a().replace('branch=[branch]', DUP_BRANCH).replace('<send retrans="500">', '<send>') + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=FLOW_SDP) + ack_2xx() + PAUSE + flow_bye_a(2) + footer(UAC_REFS + ',cseq_ok' + FLOW_REFS)

files['flow_slow_answer_uas.xml'] = header('maskd gateway rings a while, then answers', '''  flow_slow_answer_uas.xml - B rings for -d, answers, and receives the
  BYE.
''' + UAS_DOC) + uas_invite() + RING_B + PAUSE + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + flow_bye_at_b() + footer(UAS_REFS)

files['flow_late_ack_uac.xml'] = header('maskd call, the caller ACKs late', '''  flow_late_ack_uac.xml - party A calls and ACKs maskd's 200 only after
  1.7 s (maskd retransmits its 200 meanwhile), sends a DTMF digit by
  INFO, talks (-d) and hangs up.
''' + UAC_DOC) + invite_a() + early_a() + recv('200', attrs=' rtd="true" rrs="true"', extra=FLOW_SDP) + '  <pause milliseconds="1700"/>\n\n' + ack_2xx() + flow_req_a('INFO', 2, DTMF_CT, dtmf('1')) + recv('200', extra=ok_for('INFO')) + PAUSE + flow_bye_a(3) + footer(UAC_REFS + ',cseq_ok' + FLOW_REFS)

files['flow_reack_uas.xml'] = header('maskd gateway retransmits its 200', '''  flow_reack_uas.xml - B answers 200 and retransmits it (every 500 ms)
  until maskd's ACK comes (late: the caller ACKs late); gets A's INFO;
  then sends its 200 once more, as if that ACK had been lost, and must
  get a second ACK (RFC 3261 section 13.2.2.4: an ACK for every 2xx).
  Then the BYE. (The INFO in between keeps SIPp from taking the second
  ACK for a retransmission of the first.)
''' + UAS_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra='''
      <ereg regexp="(.*)" search_in="hdr" header="Via:" check_it="true" assign_to="junk_via,inv_via"/>''') + RING_B + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INFO', checks=UAS_CHECKS) + flow_reply_b('200', 'OK') + '''  <send>
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$inv_via]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: [$inv_cseq] INVITE
      Contact: <sip:[callee]@[local_ip]:[local_port]>
      Server: PartyB-Switch/2.0
      Content-Type: application/sdp
      Content-Length: [len]

''' + sdp('partyb') + '''
    ]]>
  </send>

''' + recv('ACK', checks=UAS_CHECKS, extra='''
      <ereg regexp="^ *[0-9]+ ACK" search_in="hdr" header="CSeq:" check_it="true" assign_to="ack_cseq"/>''') + flow_bye_at_b() + footer(UAS_REFS + ',junk_via,inv_via,ack_cseq')

# ---- digest authentication towards the gateway (tests/sip/test_auth.py;
# maskd there has [gateway] auth_user/auth_password)
AUTH_DOC = '''
  Authentication: B challenges maskd's INVITE (401 WWW-Authenticate, or 407
  Proxy-Authenticate: Digest, MD5, qop="auth") and expects it once more
  on the same dialog with credentials, which it verifies (verifyauth;
  SIPp 3.6 reads Authorization only: the test verifies the rest).
  Keys:   -key realm R      the realm B challenges with
          -key auth_user U  the user and password B accepts
          -key auth_pass P
  The test reads the traces for the rest: the same Call-ID and From tag,
  the next CSeq, a new branch, the digest computed in Python too.'''
NONCE1 = '8a1b0f3e5c7d9e2f4a6b8c0d1e3f5a7b'
NONCE2 = 'c0ffee00deadbeef0123456789abcdef'
OPAQUE = '5ccc069c403ebaf9f0171e9517f40e41'

def challenge(code='401', nonce=NONCE1, stale=False):
    name, reason = (('WWW-Authenticate', 'Unauthorized') if code == '401'
                    else ('Proxy-Authenticate',
                          'Proxy Authentication Required'))
    hdr = ('%s: Digest realm="[realm]", nonce="%s", opaque="%s", '
           'algorithm=MD5, qop="auth"%s'
           % (name, nonce, OPAQUE, ', stale=true' if stale else ''))
    # a tag of its own, as a proxy's stateless challenge has: the dialog
    # must take the tag of the 2xx, never this one
    return uas_resp(code, reason, contact=False,
                    extra_hdr='\n      ' + hdr).replace(
                        ';tag=[pid]SIPpTag01[call_number]',
                        ';tag=[pid]SIPpAuth[call_number]')

def has_creds(code='401', name='creds'):
    hdr = 'Authorization:' if code == '401' else 'Proxy-Authorization:'
    return ('\n      <ereg regexp="^ *Digest .*response=" search_in="hdr" '
            'header="%s" check_it="true" assign_to="%s"/>' % (hdr, name))

NO_CREDS = ('\n      <ereg regexp="Authorization:" search_in="msg" '
            'check_it_inverse="true" assign_to="no_creds"/>')

def verify(name='authvalid'):
    return ('\n      <verifyauth assign_to="%s" username="[auth_user]" '
            'password="[auth_pass]"/>' % name)

def must(name, label):
    """Go on at @label when @name is true, else fail the call."""
    return ('  <nop test="%s" next="%s"/>\n'
            '  <!-- credentials that do not verify fail the call -->\n'
            '  <recv request="NEVER" timeout="100"/>\n'
            '  <label id="%s"/>\n\n' % (name, label, label))

INVITE_CSEQ = ('\n      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" '
               'check_it="true" assign_to="junk7,inv_cseq"/>')

def auth_head(code='401'):
    """INVITE without credentials, the challenge, its ACK, the INVITE with
    them (verified: SIPp 3.6's verifyauth reads Authorization only, so
    the test verifies Proxy-Authorization from the trace)."""
    head = (recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS,
                 extra=NO_CREDS) + challenge(code)
            + recv('ACK', checks=UAS_CHECKS))
    if code != '401':
        return head + recv('INVITE', checks=UAS_CHECKS,
                           extra=has_creds(code) + INVITE_CSEQ)
    return (head + recv('INVITE', checks=UAS_CHECKS,
                        extra=has_creds(code) + verify() + INVITE_CSEQ)
            + must('authvalid', 'verified'))

AUTH_REFS = UAS_REFS + ',no_creds,creds,junk7'

for code, fname in (('401', 'auth_uas.xml'), ('407', 'auth_proxy_uas.xml')):
    files[fname] = header('maskd authenticates to the gateway (%s)' % code, '''  %s - B challenges maskd's INVITE with %s, verifies the credentials of
  the INVITE that follows, rings, answers, and receives the BYE (from A's
  side, or maskd's at the call time limit).
''' % (fname, code) + UAS_DOC + AUTH_DOC) + auth_head(code) + RING_B + OK200_B + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(AUTH_REFS + (',authvalid' if code == '401' else ''))

files['auth_twice_uas.xml'] = header('maskd\'s credentials are refused', '''  auth_twice_uas.xml - B challenges maskd's INVITE (401) and challenges
  the INVITE with credentials again, with a new nonce (wrong password):
  maskd must give up, and the caller gets 403.
''' + UAS_DOC + AUTH_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=NO_CREDS) + challenge() + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=has_creds()) + challenge(nonce=NONCE2) + recv('ACK', checks=UAS_CHECKS) + TIMEWAIT + footer(UAS_REFS + ',no_creds,creds')

files['auth_once_uas.xml'] = header('maskd cannot answer the challenge', '''  auth_once_uas.xml - B challenges maskd's INVITE (401), which maskd has
  no credentials for (none configured, or another realm): nothing more
  may come, and the caller gets 403.
''' + UAS_DOC + AUTH_DOC) + recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=NO_CREDS) + challenge() + recv('ACK', checks=UAS_CHECKS) + TIMEWAIT + footer(UAS_REFS + ',no_creds')

files['auth_cancel_uas.xml'] = header('maskd cancels its authenticated INVITE', '''  auth_cancel_uas.xml - B challenges maskd's INVITE, rings on the one with
  credentials and never answers; the CANCEL (the caller gave up, or the
  ring timeout) must be for that INVITE: B answers 200 to it and 487 to
  the INVITE with its CSeq.
''' + UAS_DOC + AUTH_DOC) + auth_head() + RING_B + recv('CANCEL', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + '''  <send>
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

''' + recv('ACK', checks=UAS_CHECKS) + TIMEWAIT + footer(AUTH_REFS + ',authvalid')

files['auth_reinvite_uas.xml'] = header('maskd authenticates in the dialog too', '''  auth_reinvite_uas.xml - like auth_uas.xml; then A holds and resumes
  (hold_uac.xml). Each re-INVITE must come with credentials; B challenges
  the first anyway (401, stale=true, a new nonce) and verifies the one
  that follows, then the resume (which must use the new nonce).
''' + UAS_DOC + AUTH_DOC) + auth_head() + RING_B + OK200_B + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=has_creds(name='creds_hold')) + challenge(nonce=NONCE2, stale=True).replace(';tag=[pid]SIPpAuth[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra='\n      <ereg regexp="a=sendonly" search_in="msg" check_it="true" assign_to="hold"/>' + verify('holdvalid')) + must('holdvalid', 'hold_verified') + uas_resp('200', 'OK', sdp('partyb', 'recvonly')).replace(';tag=[pid]SIPpTag01[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra='\n      <ereg regexp="a=sendrecv" search_in="msg" check_it="true" assign_to="resume"/>' + verify('resumevalid')) + must('resumevalid', 'resume_verified') + uas_resp('200', 'OK', sdp('partyb', 'sendrecv')).replace(';tag=[pid]SIPpTag01[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(AUTH_REFS + ',authvalid,creds_hold,hold,holdvalid,resume,resumevalid')

files['auth_refresh_uas.xml'] = header('maskd authenticates its session refresh', '''  auth_refresh_uas.xml - like st_refresher_uas.xml after auth_uas.xml's
  challenge: B makes maskd the refresher (Session-Expires: 6;refresher=
  uac), challenges the refresh re-INVITE (401, stale=true, a new nonce)
  and verifies the one that follows, then receives the BYE.
''' + UAS_DOC + AUTH_DOC + ST_DOC) + auth_head() + RING_B + ok_st_b('6;refresher=uac') + recv('ACK', attrs=' crlf="true"', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=has_creds(name='creds_refresh') + se_check('^ *6;refresher=uac', 'se_refresh')) + challenge(nonce=NONCE2, stale=True).replace(';tag=[pid]SIPpAuth[call_number]', '') + recv('ACK', checks=UAS_CHECKS) + recv('INVITE', checks=UAS_CHECKS, extra=HAS_SDP + verify('refreshvalid')) + must('refreshvalid', 'refresh_verified') + ok_st_b('6;refresher=uac', True) + recv('ACK', checks=UAS_CHECKS) + recv('BYE', checks=UAS_CHECKS) + uas_reply_plain('200', 'OK') + TIMEWAIT + footer(AUTH_REFS + ',authvalid,creds_refresh,se_refresh,has_sdp,refreshvalid')
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


# ---- PIN authentication (tests/sip/test_pin.py): the party a PIN names,
# called by maskd from the VN; nothing of the caller (a third number,
# +1202555xxxx, on 127.0.0.2) may reach it
PIN_UAS_DOC = '''
  PIN: the caller typed a party's PIN; maskd calls the other party from
  the VN with its own SDP (the caller's codec) and bridges on the 200.'''

def pin_uas(sdp_check):
    return recv('INVITE', attrs=' crlf="true"', checks=UAS_INVITE_CHECKS, extra=sdp_check + GRAB) + RING_B + media_ok_b() + recv('ACK', attrs=' rtd="true" crlf="true"', checks=UAS_CHECKS) + PAUSE + uas_request('BYE', 1) + recv('200', checks=UAS_CHECKS, extra=ok_for('BYE')) + footer(UAS_REFS + ',cseq_ok' + MEDIA_REFS)

files['pin_uas.xml'] = header('maskd calls the party a PIN named', '''  pin_uas.xml - B (the party a PIN named) rings, answers with SDP naming
  its RTP peer, talks (-d) and hangs up.
''' + UAS_DOC + PIN_UAS_DOC + MEDIA_DOC) + pin_uas(sdp_from_maskd())

files['pin_nte_uas.xml'] = header('maskd calls the party a PIN named, no telephone-event', '''  pin_nte_uas.xml - pin_uas.xml for a caller that offered no
  telephone-event (in-band DTMF): maskd's offer names PCMU alone.
''' + UAS_DOC + PIN_UAS_DOC + MEDIA_DOC) + pin_uas(sdp_from_maskd().replace('RTP/AVP 0 101', 'RTP/AVP 0[^0-9 ]'))


for name, text in files.items():
    with open(os.path.join(D, name), 'w') as f:
        f.write(text)
print("\n".join(sorted(files)))
