# prompts.cmake - the default prompts, spoken at build time: no audio is
# kept in the repository. For each "NAME<TAB>sentence" of
# media/prompts.txt, espeak-ng speaks the sentence (22.05 kHz) and sox
# makes it what maskd plays (include/maskd/prompt.h): 8 kHz, mono,
# 16-bit PCM, leading and trailing silence trimmed, normalised to -3 dBFS.
# Output: ${MASKD_PROMPTS_DIR}/NAME.wav (build/prompts/, which an empty
# [media] prompts finds next to build/maskd), installed to
# share/maskd/prompts. Both tools come from Debian (scripts/deps.sh).
find_program(ESPEAK_NG espeak-ng)
find_program(SOX sox)
if(NOT ESPEAK_NG OR NOT SOX)
  message(FATAL_ERROR "the prompts need espeak-ng and sox: scripts/deps.sh")
endif()

set(MASKD_PROMPTS_TXT "${PROJECT_SOURCE_DIR}/media/prompts.txt")
set(MASKD_PROMPTS_DIR "${PROJECT_BINARY_DIR}/prompts")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${MASKD_PROMPTS_TXT}")
file(STRINGS "${MASKD_PROMPTS_TXT}" maskd_prompt_lines REGEX "^[a-z_]+\t")
set(maskd_prompt_files "")
foreach(line IN LISTS maskd_prompt_lines)
  string(REGEX MATCH "^([a-z_]+)\t(.+)$" _ "${line}")
  set(name "${CMAKE_MATCH_1}")
  set(text "${CMAKE_MATCH_2}")
  set(out "${MASKD_PROMPTS_DIR}/${name}.wav")
  set(raw "${MASKD_PROMPTS_DIR}/${name}.espeak.wav")
  # silence 1 0.02 0.5%: cut what precedes the first sound; reverse,
  # the same, reverse: what follows the last one
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${MASKD_PROMPTS_DIR}"
    COMMAND "${ESPEAK_NG}" -v en-us -s 150 -w "${raw}" "${text}"
    COMMAND "${SOX}" -q "${raw}" -r 8000 -c 1 -b 16 -e signed-integer
            "${out}" silence 1 0.02 0.5% reverse silence 1 0.02 0.5%
            reverse norm -3
    COMMAND ${CMAKE_COMMAND} -E rm -f "${raw}"
    DEPENDS "${MASKD_PROMPTS_TXT}"
    COMMENT "Speaking prompt ${name}"
    VERBATIM)
  list(APPEND maskd_prompt_files "${out}")
endforeach()
add_custom_target(maskd_prompts ALL DEPENDS ${maskd_prompt_files})
# maskd refuses to start without its prompts: building it builds them
add_dependencies(maskd maskd_prompts)

include(GNUInstallDirs)
install(FILES ${maskd_prompt_files}
        DESTINATION "${CMAKE_INSTALL_DATADIR}/maskd/prompts"
        COMPONENT maskd)
