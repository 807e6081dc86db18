# install_paths.cmake - the install-time half of cmake/install.cmake:
# included by cmake_install.cmake once for component "maskd" (the systemd
# unit) and once for component "conf" (/etc/maskd/maskd.conf), with
# CMAKE_INSTALL_PREFIX (and DESTDIR) as in force for this install.

# GNUInstallDirs' rule for the config directory: /usr and / use /etc
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/")
  set(maskd_etc "/etc/maskd")
else()
  set(maskd_etc "${CMAKE_INSTALL_PREFIX}/etc/maskd")
endif()

if(MASKD_COMPONENT STREQUAL "maskd")
  if(IS_ABSOLUTE "${MASKD_SYSTEMD_UNITDIR}")
    set(maskd_unitdir "${MASKD_SYSTEMD_UNITDIR}")
  else()
    set(maskd_unitdir "${CMAKE_INSTALL_PREFIX}/${MASKD_SYSTEMD_UNITDIR}")
  endif()
  set(MASKD_SBIN "${CMAKE_INSTALL_PREFIX}/${MASKD_SBINDIR}/maskd")
  set(MASKD_CONF "${maskd_etc}/maskd.conf")
  configure_file("${MASKD_UNIT_TEMPLATE}" "${MASKD_WORK_DIR}/maskd.service"
                 @ONLY)
  # file(INSTALL) adds $DESTDIR and records the file in the manifest
  file(INSTALL "${MASKD_WORK_DIR}/maskd.service"
       DESTINATION "${maskd_unitdir}")
elseif(MASKD_COMPONENT STREQUAL "conf")
  # An operator's edited config is never overwritten: a new version's
  # keys are in share/maskd/maskd.conf, to compare against
  if(EXISTS "$ENV{DESTDIR}${maskd_etc}/maskd.conf")
    message(STATUS "Keeping: $ENV{DESTDIR}${maskd_etc}/maskd.conf "
            "(the new template is share/maskd/maskd.conf)")
  else()
    file(INSTALL "${MASKD_BUILT_CONF}" DESTINATION "${maskd_etc}"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  endif()
endif()
