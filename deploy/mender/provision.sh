#!/bin/sh
# provision.sh: make this kiosk a Mender device for kiosk-release artifacts (once, as root).
#
#   sh deploy/mender/provision.sh [DEVICE_TYPE]      default: myna-kiosk-<dpkg architecture>
#
# Writes what mender-client needs and an image would otherwise carry: the device type the
# artifacts are built for (build.py --device-type), the name of what runs now, and, when no
# configuration exists, an empty one (standalone mode: `mender install` / `commit` / `rollback`).
# For a Mender server, put its ServerURL and TenantToken in /etc/mender/mender.conf instead.
set -eu
type=${1:-myna-kiosk-$(dpkg --print-architecture)}
data=$(readlink /var/lib/mender || echo /var/lib/mender)
mkdir -p "$data" /etc/mender
echo "device_type=$type" > /var/lib/mender/device_type
if [ ! -e /etc/mender/artifact_info ]; then
    current=$(readlink /opt/kiosk/current 2>/dev/null | sed 's#.*/##')
    echo "artifact_name=myna-kiosk-${current:-none}" > /etc/mender/artifact_info
fi
[ -e /etc/mender/mender.conf ] || echo '{}' > /etc/mender/mender.conf
echo "mender: device_type=$type, $(cat /etc/mender/artifact_info)"
