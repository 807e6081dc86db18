# derive_conf.cmake - the installed maskd.conf, derived from the shipped
# conf/maskd.conf (never a second copy kept by hand): the same keys and
# comments, with the values that point into the source tree replaced by
# the installed system's paths.
#
#   cmake -DIN=conf/maskd.conf -DOUT=maskd.conf \
#         "-DSET=store.path=/var/lib/maskd/maskd.lmdb" -P derive_conf.cmake
#
# SET is a list of SECTION.KEY=VALUE; each key must be found exactly once
# in its section, or the build fails (a renamed key must not slip through
# and leave the installed config pointing at var/ under the cwd).
cmake_minimum_required(VERSION 3.18)

file(READ "${IN}" conf)
# work on "\n<file>" so that every key line starts with "\n"
set(conf "\n${conf}")

foreach(item IN LISTS SET)
  if(NOT item MATCHES "^([^.=]+)\\.([^=]+)=(.*)$")
    message(FATAL_ERROR "derive_conf: '${item}' is not SECTION.KEY=VALUE")
  endif()
  set(section "${CMAKE_MATCH_1}")
  set(key "${CMAKE_MATCH_2}")
  set(value "${CMAKE_MATCH_3}")

  string(FIND "${conf}" "\n[${section}]" start)
  if(start LESS 0)
    message(FATAL_ERROR "derive_conf: ${IN}: no [${section}] section")
  endif()
  string(SUBSTRING "${conf}" 0 ${start} head)
  string(SUBSTRING "${conf}" ${start} -1 rest)
  # the section ends where the next one starts
  string(SUBSTRING "${rest}" 1 -1 after_header)
  string(FIND "${after_header}" "\n[" end)
  if(end LESS 0)
    set(body "${rest}")
    set(tail "")
  else()
    math(EXPR end "${end} + 1")
    string(SUBSTRING "${rest}" 0 ${end} body)
    string(SUBSTRING "${rest}" ${end} -1 tail)
  endif()

  string(REGEX MATCHALL "\n${key}[ \t]*=[^\n]*" found "${body}")
  list(LENGTH found n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR
      "derive_conf: ${IN}: [${section}] ${key} found ${n} times, not once")
  endif()
  string(REGEX REPLACE "\n${key}[ \t]*=[^\n]*" "\n${key} = ${value}"
         body "${body}")
  set(conf "${head}${body}${tail}")
endforeach()

string(SUBSTRING "${conf}" 1 -1 conf)
set(note "; maskd.conf as installed: conf/maskd.conf with these values changed:\n")
foreach(item IN LISTS SET)
  string(APPEND note ";   ${item}\n")
endforeach()
file(WRITE "${OUT}.tmp" "${note};\n${conf}")
file(RENAME "${OUT}.tmp" "${OUT}")
