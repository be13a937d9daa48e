# Sourced by the scripts that need programs from Debian: `apt_install PACKAGE...` installs the
# packages named (nothing when none are), with sudo when not root.
apt_install() {
    [ $# -gt 0 ] || return 0
    echo "installing $*" >&2
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@"
}
