SUMMARY = "Over-the-air firmware updates of STM32 co-processors over USB DFU"
DESCRIPTION = "mcu-ota keeps the STM32 microcontrollers attached to a gateway on the firmware \
its configuration names: signed SWUpdate bundles fetched over HTTPS, the chip put into its ROM \
bootloader (GPIO, USB request, DFU detach or UART command), flashed with DfuSe and read back, \
rolled back on any failure, every step journaled against power loss; a daemon under systemd or \
SysV init."
SECTION = "console/utils"

# The project has no license file yet. When it has, set LICENSE and LIC_FILES_CHKSUM to it.
LICENSE = "CLOSED"

# The release's sources: SRCREV is the commit of the tag v${PV}. Set both for your mirror, e.g.
# in a bbappend: SRC_URI = "git://git.example.com/mcu-ota.git;protocol=https;branch=main" and
# SRCREV = "<40 hex digits>". To build a local checkout instead, use externalsrc (README.md).
SRC_URI = "git://git.example.com/mcu-ota.git;protocol=https;branch=main"
SRCREV = "0000000000000000000000000000000000000000"
S = "${WORKDIR}/git"

# pkg_check_modules of CMakeLists.txt: libusb-1.0, libcurl, libcrypto, libconfig
DEPENDS = "libusb1 curl openssl libconfig"

inherit cmake pkgconfig systemd update-rc.d useradd

# The unit and the udev rules where this distribution keeps them; the tests need Debian's tools
# and the QEMU rig, so they stay off in a cross build.
EXTRA_OECMAKE = " \
    -DBUILD_TESTING=OFF \
    -DMCU_OTA_SYSTEMD_UNIT_DIR=${systemd_system_unitdir} \
    -DMCU_OTA_UDEV_RULES_DIR=${nonarch_base_libdir}/udev/rules.d \
"

# The init systems of the distribution get their files (the systemd and update-rc.d classes
# drop the other one's anyway); werror for CI builds.
PACKAGECONFIG ??= "${@bb.utils.filter('DISTRO_FEATURES', 'systemd sysvinit', d)}"
PACKAGECONFIG[systemd] = "-DMCU_OTA_INSTALL_SYSTEMD_UNIT=ON,-DMCU_OTA_INSTALL_SYSTEMD_UNIT=OFF"
PACKAGECONFIG[sysvinit] = "-DMCU_OTA_INSTALL_SYSV_INIT=ON,-DMCU_OTA_INSTALL_SYSV_INIT=OFF"
PACKAGECONFIG[werror] = "-DMCU_OTA_WERROR=ON,-DMCU_OTA_WERROR=OFF"

SYSTEMD_SERVICE:${PN} = "mcu-ota.service"
INITSCRIPT_NAME = "mcu-ota"
# Late at start (after the network), early at stop.
INITSCRIPT_PARAMS = "defaults 90 10"

# The udev rules give this group the bootloader, the applications and the GPIO chips;
# daemon.socket_group may name it for operators.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system mcu-ota"

# ${PN}: the agent, its configuration and system integration; one package per plugin
# (${PN}-plugin-dfuse, ...: split below, each depending on ${PN}), ${PN}-plugins for all of them;
# ${PN}-dev: the plugin SDK; ${PN}-doc: the man pages.
PACKAGES =+ "${PN}-plugins"
PACKAGES_DYNAMIC += "^${PN}-plugin-.*"
ALLOW_EMPTY:${PN}-plugins = "1"
SUMMARY:${PN}-plugins = "All plugins of mcu-ota"

FILES:${PN} = " \
    ${bindir}/mcu-ota \
    ${sysconfdir}/mcu-ota/mcu-ota.conf \
    ${sysconfdir}/init.d/mcu-ota \
    ${systemd_system_unitdir}/mcu-ota.service \
    ${nonarch_base_libdir}/udev/rules.d/60-mcu-ota.rules \
"
FILES:${PN}-dev = "${includedir}/mcu-ota ${libdir}/pkgconfig/mcu-ota-plugin.pc"
FILES:${PN}-doc = "${mandir}/man1/mcu-ota.1* ${mandir}/man5/mcu-ota.conf.5*"
CONFFILES:${PN} = "${sysconfdir}/mcu-ota/mcu-ota.conf"

# The flasher of every device defaults to dfuse; an image that wants fewer plugins lists them
# and sets BAD_RECOMMENDATIONS += "mcu-ota-plugins".
RRECOMMENDS:${PN} = "${PN}-plugins"

python populate_packages:prepend () {
    pn = d.getVar('PN')
    plugins = do_split_packages(d, d.expand('${libdir}/mcu-ota/plugins'), r'^mcu-ota-(.*)\.so$',
                                pn + '-plugin-%s', 'mcu-ota plugin %s', extra_depends=pn)
    d.appendVar('RDEPENDS:' + pn + '-plugins', ' ' + ' '.join(sorted(plugins)))
}
