#!/bin/bash
# Mounts the registry's data disk at every boot (cloud-init bootcmd: on Container-Optimized OS
# /etc/fstab does not persist). Formats the disk only when it holds no filesystem, checks the
# filesystem before mounting, grows it to the disk's size after (so a larger diskSizeGb is used), and
# creates the data folder only on the mounted disk: if anything fails, the registry's bind mount of
# that folder fails too, instead of writing into the RAM-backed /mnt/disks.
# Usage: mount-data-disk.sh DEVICE MOUNTPOINT   (MOUNT_DATA_DISK_WAIT_SECONDS: how long to wait, 30)
set -euo pipefail

dev="$1"
mnt="$2"
wait_seconds="${MOUNT_DATA_DISK_WAIT_SECONDS:-30}"

# bootcmd may run before udev has made the /dev/disk/by-id link: let it finish, then wait a bounded time.
if command -v udevadm >/dev/null; then
  udevadm settle --timeout="${wait_seconds}" || true
fi
waited=0
while [ ! -e "${dev}" ] && [ "${waited}" -lt "${wait_seconds}" ]; do
  sleep 1
  waited=$((waited + 1))
done
if [ ! -e "${dev}" ]; then
  echo "mount-data-disk: ${dev} does not exist after ${wait_seconds} s: is the data disk attached?" >&2
  exit 1
fi
if mountpoint -q "${mnt}"; then
  echo "mount-data-disk: ${mnt} is already mounted"
else
  found=0
  blkid "${dev}" >/dev/null || found=$?
  # blkid exits 2 when it finds no filesystem. Format only a disk that is blank as GCE creates it
  # (zeros): a filesystem with a damaged superblock is never formatted over.
  if [ "${found}" -eq 2 ] && [ "$(head -c 16777216 "${dev}" | tr -d '\0' | head -c 1 | wc -c)" -eq 0 ]; then
    mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard "${dev}"
  elif [ "${found}" -ne 0 ]; then
    echo "mount-data-disk: blkid found no filesystem (${found}) on ${dev}, which is not blank:" \
      "not formatting, not mounting; repair it (e2fsck -b 32768) or restore a snapshot" >&2
    exit 1
  fi
  # -p repairs only what is safe without a person; 0 = clean, 1 = errors corrected.
  checked=0
  fsck.ext4 -p "${dev}" || checked=$?
  if [ "${checked}" -gt 1 ]; then
    echo "mount-data-disk: fsck.ext4 exited ${checked}: ${dev} needs a manual repair; not mounting" >&2
    exit 1
  fi
  mkdir -p "${mnt}"
  mount -o discard,defaults "${dev}" "${mnt}"
fi
# Online grow: a no-op unless the disk was resized.
resize2fs "${dev}"
mkdir -p "${mnt}/data"
