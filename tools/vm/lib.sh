# shellcheck shell=bash
# Shared by tools/vm/run, tools/vm/prepare and tools/test: installs what the kernel test VM needs, fetches
# Debian's kernel, builds the initramfs and picks the accelerator. Everything it makes lives in a cache outside
# the repository ($SWIFT_IPVS_VM_CACHE, default /var/cache/swift-ipvs-vm), keyed so that a new Debian kernel or
# an edit to the VM's files rebuilds what depends on it, and nothing else.
#
# Source it from bash; functions are prefixed vm_ and report on stderr with a "vm:" prefix.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
VM_REPO=$(cd "$VM_DIR/../.." && pwd -P)

# Debian packages the VM needs on the host. The guest runs the host's own binaries (its / is shared read-only),
# so everything a test calls inside the VM is installed here.
VM_PACKAGES=(qemu-system-x86 busybox-static ipvsadm tcpdump iproute2 kmod cpio xz-utils coreutils util-linux procps)
# Debian packages the build itself needs, VM or not: libnl-3 and libnl-genl-3 with their headers and pkg-config
# files (the CNetlink system library), and <linux/ip_vs.h> (CIPVSNetlink); liburcu and Concurrency Kit for the
# C reference tables the connection-table benchmarks (Benchmarks/) compare against; gcc for the small C fixtures the
# ipvsctl tests compile (Tests/IPVSAdminTests/Fixtures); libpcap for the pcap tap (CShims/CPcap); zsh and fish, which
# the tests of the generated completions (docs/completions) run.
BUILD_PACKAGES=(pkg-config libnl-3-dev libnl-genl-3-dev linux-libc-dev liburcu-dev libck-dev gcc libpcap-dev zsh fish)

vm_log() { echo "vm: $*" >&2; }
vm_die() { echo "vm: error: $*" >&2; exit 125; }

vm_cache_dir() {
    local dir=${SWIFT_IPVS_VM_CACHE:-}
    if [ -z "$dir" ]; then
        dir=${XDG_CACHE_HOME:-$HOME/.cache}/swift-ipvs-vm
        [ "$(id -u)" != 0 ] || dir=/var/cache/swift-ipvs-vm
    fi
    mkdir -p "$dir" || vm_die "cannot create the cache directory $dir"
    (cd "$dir" && pwd -P)
}

# apt-get with the options every call here wants; the package lists are refreshed only when a call fails
# (a fresh machine has none, an old one may point at packages the mirror no longer has).
vm_apt_updated=0
vm_apt_update() {
    [ "$vm_apt_updated" = 1 ] && return 0
    vm_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || vm_die "apt-get update failed"
    vm_apt_updated=1
}

# vm_ensure_packages [PACKAGE...]: install what is missing (default: VM_PACKAGES). Silent when all are there.
vm_ensure_packages() {
    local wanted=("$@") missing=() installed p
    [ ${#wanted[@]} -gt 0 ] || wanted=("${VM_PACKAGES[@]}")
    # dpkg-query exits 1 when a package is unknown to dpkg (never installed on this machine): not an error here.
    installed=$'\n'$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)$'\n'
    for p in "${wanted[@]}"; do
        [[ $installed == *$'\n'"$p install ok installed"$'\n'* ]] || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || vm_die "missing packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
    vm_log "installing ${missing[*]}"
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends)
    if ! "${install[@]}" "${missing[@]}" >/dev/null 2>&1; then
        vm_apt_update
        "${install[@]}" "${missing[@]}" >/dev/null || vm_die "apt-get install ${missing[*]} failed"
    fi
}

# vm_kernel_package CACHE: the kernel package behind Debian's linux-image-amd64 metapackage, e.g.
# linux-image-6.1.0-56-amd64. It changes when Debian updates the kernel; the version part is the kernel release
# (uname -r in the guest). apt-cache takes a couple of seconds, so the answer is kept until the package lists change.
vm_kernel_package() {
    local remembered=$1/kernel-package lists pkg
    lists=$(stat -c '%n %Y %s' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16)
    if [ -s "$remembered" ] && [ "$(sed -n 1p "$remembered")" = "$lists" ]; then
        sed -n 2p "$remembered"
        return 0
    fi
    # awk reads to the end: quitting early could kill apt-cache with SIGPIPE, which pipefail would report.
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ && !found { print $2; found = 1 }')
    [ -z "$pkg" ] || printf '%s\n%s\n' "$lists" "$pkg" >"$remembered"
    echo "$pkg"
}

# vm_ensure_kernel: sets VM_KVER and VM_KROOT (the unpacked package: boot/vmlinuz-*, lib/modules/* with modules.dep).
# The package is fetched with apt-get download and unpacked, not installed: installing it would pull in
# initramfs-tools and friends, write to /boot and build an initrd we do not use.
vm_ensure_kernel() {
    local cache=$1 pkg
    if [ -n "${SWIFT_IPVS_VM_KERNEL:-}" ]; then
        pkg=linux-image-$SWIFT_IPVS_VM_KERNEL
    else
        pkg=$(vm_kernel_package "$cache")
        if [ -z "$pkg" ]; then vm_apt_update; pkg=$(vm_kernel_package "$cache"); fi
    fi
    if [ -z "$pkg" ]; then
        # No package lists and no network: fall back to the newest kernel already in the cache.
        VM_KVER=$(ls -1 "$cache/kernel" 2>/dev/null | sort -V | tail -n 1)
        [ -n "$VM_KVER" ] && [ -e "$cache/kernel/$VM_KVER/.complete" ] ||
            vm_die "cannot find Debian's kernel package (apt-cache depends linux-image-amd64 is empty)"
        vm_log "no package lists; using the cached kernel $VM_KVER"
    else
        VM_KVER=${pkg#linux-image-}
    fi
    VM_KROOT=$cache/kernel/$VM_KVER
    if [ -e "$VM_KROOT/.complete" ]; then
        vm_select_kernel_image
        return 0
    fi

    vm_log "fetching $pkg"
    local download=$cache/download
    rm -rf "$download" "$VM_KROOT" "$VM_KROOT.partial"
    mkdir -p "$download" "$VM_KROOT.partial"
    local get=(apt-get download -qq)
    [ "$(id -u)" = 0 ] && get+=(-o APT::Sandbox::User=root)   # root downloading into a root-only directory
    if ! (cd "$download" && "${get[@]}" "$pkg" >&2); then
        vm_apt_update   # stale lists name a .deb the mirror has dropped
        (cd "$download" && "${get[@]}" "$pkg" >&2) || vm_die "apt-get download $pkg failed"
    fi
    local deb
    deb=$(ls "$download"/*.deb)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$VM_KROOT.partial" ./boot ./lib/modules ||
        vm_die "cannot unpack $deb"
    # The package ships no modules.dep (its postinst makes it); kmod needs it to resolve dependencies.
    depmod -b "$VM_KROOT.partial" "$VM_KVER" || vm_die "depmod failed for $VM_KVER"
    rm -rf "$download"
    touch "$VM_KROOT.partial/.complete"
    mv "$VM_KROOT.partial" "$VM_KROOT"
    vm_select_kernel_image
    # A kernel update leaves the old version behind: drop it and everything built from it.
    local old
    for old in "$cache"/kernel/*; do
        [ "$old" = "$VM_KROOT" ] && continue
        vm_log "removing the old kernel $(basename "$old")"
        rm -rf "$old" "$cache/initramfs/$(basename "$old")"-*
    done
}

# vm_select_kernel_image: sets VM_KERNEL. Under emulation, inflating the xz-compressed bzImage takes the guest
# about four seconds, so when the kernel can boot through its PVH entry point (CONFIG_PVH) QEMU is handed the
# uncompressed ELF instead, unpacked once from the bzImage: its xz stream starts at the xz magic bytes.
vm_select_kernel_image() {
    local bzimage=$VM_KROOT/boot/vmlinuz-$VM_KVER vmlinux=$VM_KROOT/boot/vmlinux-$VM_KVER offset
    VM_KERNEL=$bzimage
    [ -r "$bzimage" ] || vm_die "missing $bzimage"
    if [ ! -e "$vmlinux" ] && [ ! -e "$vmlinux.unusable" ]; then
        offset=$( { LC_ALL=C grep -abo $'\xfd7zXZ' "$bzimage" || true; } | awk -F: 'NR == 1 { print $1 }')
        if grep -qx 'CONFIG_PVH=y' "$VM_KROOT/boot/config-$VM_KVER" && [ -n "$offset" ] &&
            xz -dc --single-stream <(tail -c "+$((offset + 1))" "$bzimage") >"$vmlinux.partial" 2>/dev/null &&
            [ "$(head -c 4 "$vmlinux.partial" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
            mv "$vmlinux.partial" "$vmlinux"
        else
            rm -f "$vmlinux.partial"
            : >"$vmlinux.unusable"
            vm_log "cannot unpack an ELF kernel from $bzimage; booting the bzImage (slower)"
        fi
    fi
    [ ! -e "$vmlinux" ] || VM_KERNEL=$vmlinux
}

# vm_ensure_initramfs: sets VM_INITRD. The image holds a static busybox, the modules from tools/vm/modules with
# their dependencies, and tools/vm/init; the guest's userland is the host's, shared over 9p. It is cached under
# the kernel version and a hash of every input, so editing any of them (or a new busybox) rebuilds it.
vm_ensure_initramfs() {
    local cache=$1 key
    key=$(cat "$VM_DIR/init" "$VM_DIR/modules" "$VM_DIR/modprobe.conf" "$VM_DIR/lib.sh" /bin/busybox |
        sha256sum | cut -c1-16)
    VM_INITRD=$cache/initramfs/$VM_KVER-$key.cpio
    [ -e "$VM_INITRD" ] && return 0

    vm_log "building the initramfs for $VM_KVER"
    [[ $'\n'"$(/bin/busybox --list 2>/dev/null)"$'\n' == *$'\ninsmod\n'* ]] ||
        vm_die "/bin/busybox is not busybox-static"
    # Staged inside the cache (and cleared first) so a failed build leaves nothing elsewhere.
    local stage=$cache/initramfs/stage
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,run,job,lower,upper,newroot} "$stage/lib/modules/$VM_KVER"
    cp /bin/busybox "$stage/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
    done
    install -m 755 "$VM_DIR/init" "$stage/init"

    # Resolve each module to the ordered insmod lines kmod would run (dependencies and soft dependencies first,
    # options from our modprobe.conf), copy the files in uncompressed, and record the load order for init.
    local modules module line path options rel resolved=$stage/etc/modules.resolved
    modules=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$VM_DIR/modules")
    : >"$resolved"
    : >"$stage/etc/modules.required"   # what init checks in /sys/module after loading: all but the built-in ones
    for module in $modules; do
        modprobe -S "$VM_KVER" -d "$VM_KROOT" -C "$VM_DIR/modprobe.conf" --show-depends "$module" >>"$resolved" ||
            vm_die "kernel $VM_KVER has no module $module"
        grep -Eq "^builtin $module *$" "$resolved" || echo "$module" | tr - _ >>"$stage/etc/modules.required"
    done
    : >"$stage/etc/modules.load"
    while read -r line; do
        case "$line" in
        "builtin "*) continue ;;
        "insmod "*) ;;
        *) vm_die "unexpected kmod output: $line" ;;
        esac
        line=${line#insmod }
        path=${line%% *}
        options=""
        [ "$path" = "$line" ] || options=${line#* }
        rel=${path#"$VM_KROOT"/}
        grep -q "^/${rel%.ko*}.ko " "$stage/etc/modules.load" && continue   # already pulled in by another
        mkdir -p "$stage/$(dirname "$rel")"
        case "$rel" in
        *.ko.xz) xz -dc "$path" >"$stage/${rel%.xz}" && rel=${rel%.xz} ;;
        *.ko.zst) zstd -qdc "$path" >"$stage/${rel%.zst}" && rel=${rel%.zst} ;;
        *.ko.gz) gzip -dc "$path" >"$stage/${rel%.gz}" && rel=${rel%.gz} ;;
        *) cp "$path" "$stage/$rel" ;;
        esac
        echo "/$rel $options" >>"$stage/etc/modules.load"
    done <"$resolved"
    [ -s "$stage/etc/modules.load" ] || vm_die "no modules resolved"

    rm -f "$cache/initramfs/$VM_KVER"-*.cpio   # earlier builds for this kernel
    # Uncompressed: the kernel unpacks it faster than it would inflate it under emulation.
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet >"$VM_INITRD.partial") ||
        vm_die "cpio failed"
    mv "$VM_INITRD.partial" "$VM_INITRD"
    rm -rf "$stage"
}

# vm_qemu_accel_args ACCEL: the QEMU arguments for one accelerator.
vm_qemu_accel_args() {
    case "$1" in
    kvm) echo "-accel kvm -cpu host" ;;
    # tb-size caps the translation cache (1 GiB by default), keeping QEMU near half a gigabyte.
    tcg) echo "-accel tcg,thread=multi,tb-size=256 -cpu max" ;;
    *) vm_die "unknown accelerator $1 (kvm or tcg)" ;;
    esac
}

# vm_detect_accel: sets VM_ACCEL to kvm or tcg. KVM is used only when a probe boot under it reaches the
# initramfs: a /dev/kvm can exist and still not run a stock kernel (kvm-pvm hangs while booting). The verdict is
# cached per host kernel, QEMU and guest kernel; SWIFT_IPVS_VM_ACCEL=kvm|tcg overrides it.
vm_detect_accel() {
    local cache=$1
    if [ -n "${SWIFT_IPVS_VM_ACCEL:-}" ]; then
        VM_ACCEL=$SWIFT_IPVS_VM_ACCEL
        vm_qemu_accel_args "$VM_ACCEL" >/dev/null
        return 0
    fi
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        VM_ACCEL=tcg
        return 0
    fi
    local key verdict
    key=$( (uname -r; qemu-system-x86_64 --version | sed -n 1p; echo "$VM_KVER") | sha256sum | cut -c1-16)
    verdict=$cache/accel/$key
    if [ -s "$verdict" ]; then
        VM_ACCEL=$(cat "$verdict")
        return 0
    fi
    # The probe's init writes 42 to isa-debug-exit before loading anything: QEMU then exits with 42*2+1.
    local status=0
    # shellcheck disable=SC2046
    timeout --kill-after=2 "${SWIFT_IPVS_VM_PROBE_TIMEOUT:-10}" qemu-system-x86_64 $(vm_qemu_accel_args kvm) \
        -m 256 -smp 1 -nodefaults -nographic -no-reboot -nic none -serial none \
        -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
        -append "console=ttyS0 quiet panic=-1 swift_ipvs_vm.probe" </dev/null >/dev/null 2>&1 || status=$?
    if [ "$status" = 85 ]; then VM_ACCEL=kvm; else VM_ACCEL=tcg; fi
    vm_log "KVM probe: $([ "$VM_ACCEL" = kvm ] && echo "booted, using KVM" ||
        echo "no boot (status $status), using TCG emulation")"
    mkdir -p "$cache/accel"
    echo "$VM_ACCEL" >"$verdict"
}

# vm_prepare: everything above, under a lock so concurrent runs share one build. Sets VM_KVER, VM_KERNEL,
# VM_INITRD, VM_ACCEL.
vm_prepare() {
    vm_ensure_packages
    local cache
    cache=$(vm_cache_dir)
    exec {vm_lock_fd}>"$cache/.lock"
    flock "$vm_lock_fd"
    vm_ensure_kernel "$cache"
    vm_ensure_initramfs "$cache"
    vm_detect_accel "$cache"
    flock -u "$vm_lock_fd"
    exec {vm_lock_fd}>&-
}
