# install.cmake - cmake --install and CPack's .deb (issue #9, part 6).
#
#   cmake --install build [--prefix /usr]     the files below
#   (cd build && cpack -G DEB)                maskd_<version>-1_<arch>.deb
#
# Installed: the daemon in sbin, maskd(8), a systemd unit, the commented
# config as a template in share/maskd/ and (cmake --install only, never
# over an existing one) as etc/maskd/maskd.conf. Both configs are derived
# at build time from conf/maskd.conf by cmake/derive_conf.cmake; nothing
# here keeps a second copy of a config key.
#
# The unit names absolute paths (ExecStart, the config), which depend on
# the prefix in force at install time, not at configure time: CPack
# installs with prefix /usr whatever the build tree was configured with.
# So the unit and the /etc file are written by cmake/install_paths.cmake,
# which runs at install time.
include(GNUInstallDirs)

# maskd --version says the package's upstream version
target_compile_definitions(maskd PRIVATE
  MASKD_VERSION="${PROJECT_VERSION}")

# systemd's StateDirectory=maskd: always /var/lib/maskd, whatever the prefix
set(MASKD_STATE_DIR /var/lib/maskd)
set(MASKD_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where maskd.service goes; relative to the install prefix")
set(MASKD_CONF_SOURCE "${PROJECT_SOURCE_DIR}/conf/maskd.conf" CACHE FILEPATH
    "The commented config the installed one is derived from")

set(maskd_pkg_dir "${CMAKE_CURRENT_BINARY_DIR}/packaging")
add_custom_command(
  OUTPUT "${maskd_pkg_dir}/maskd.conf"
  COMMAND ${CMAKE_COMMAND} "-DIN=${MASKD_CONF_SOURCE}"
          "-DOUT=${maskd_pkg_dir}/maskd.conf"
          "-DSET=store.path=${MASKD_STATE_DIR}/maskd.lmdb"
          -P "${PROJECT_SOURCE_DIR}/cmake/derive_conf.cmake"
  DEPENDS "${MASKD_CONF_SOURCE}" "${PROJECT_SOURCE_DIR}/cmake/derive_conf.cmake"
  COMMENT "Deriving the installed maskd.conf from conf/maskd.conf"
  VERBATIM)
# Debian installs man pages gzipped (-n: no name or time stamp, so the
# package builds the same twice)
add_custom_command(
  OUTPUT "${maskd_pkg_dir}/maskd.8.gz"
  COMMAND ${CMAKE_COMMAND} -E copy "${PROJECT_SOURCE_DIR}/docs/maskd.8"
          "${maskd_pkg_dir}/maskd.8"
  COMMAND gzip -9 -n -f "${maskd_pkg_dir}/maskd.8"
  DEPENDS "${PROJECT_SOURCE_DIR}/docs/maskd.8"
  VERBATIM)
add_custom_target(maskd_install_files ALL
  DEPENDS "${maskd_pkg_dir}/maskd.conf" "${maskd_pkg_dir}/maskd.8.gz")

# Component "maskd" is the package; component "conf" is the /etc file,
# which only cmake --install writes: the .deb's postinst makes
# /etc/maskd/maskd.conf from the template instead (see packaging/postinst).
install(TARGETS maskd RUNTIME DESTINATION "${CMAKE_INSTALL_SBINDIR}"
        COMPONENT maskd)
install(FILES "${maskd_pkg_dir}/maskd.8.gz"
        DESTINATION "${CMAKE_INSTALL_MANDIR}/man8" COMPONENT maskd)
install(FILES "${maskd_pkg_dir}/maskd.conf"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/maskd" COMPONENT maskd)
install(FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT maskd)
foreach(comp maskd conf)
  install(CODE "
    set(MASKD_COMPONENT \"${comp}\")
    set(MASKD_UNIT_TEMPLATE \"${PROJECT_SOURCE_DIR}/packaging/maskd.service.in\")
    set(MASKD_BUILT_CONF \"${maskd_pkg_dir}/maskd.conf\")
    set(MASKD_WORK_DIR \"${maskd_pkg_dir}\")
    set(MASKD_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
    set(MASKD_SYSTEMD_UNITDIR \"${MASKD_SYSTEMD_UNITDIR}\")
    set(MASKD_STATE_DIR \"${MASKD_STATE_DIR}\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/install_paths.cmake\")
  " COMPONENT ${comp})
endforeach()

# ---- CPack: one .deb --------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME maskd)
set(CPACK_PACKAGE_VENDOR "maskd")
set(CPACK_PACKAGE_CONTACT "maskd maintainers <maskd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "SIP back-to-back user agent that masks phone numbers")
set(CPACK_PACKAGE_DESCRIPTION
    "maskd connects two parties through a virtual number so that neither\n\
learns the other's number: platforms create masking sessions through a\n\
REST API, carriers deliver calls over SIP trunks, and maskd relays the\n\
calls and their media.")
# Debian packages live in /usr; the unit and /etc paths follow (see above)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
# the package is component "maskd" alone, in one .deb
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL maskd)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_PACKAGE_NAME maskd)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# libraries from dpkg-shlibdeps; passwd for useradd, init-system-helpers
# for deb-systemd-helper with DPKG_ROOT (packaging/postinst)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, init-system-helpers (>= 1.61)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/prerm"
    "${PROJECT_SOURCE_DIR}/packaging/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
