#!/usr/bin/env bash
# System packages of the tests that need more than Python:
# - the scheduler tests (tests/test_slurm.py): Debian's SLURM and munge for a single-node cluster on
#   localhost (ci/slurm-up.sh), plus slurmdbd and MariaDB for the accounting variant (sacct checks);
# - the browser test of the reports (tests/test_browser.py): Debian's Chromium and a font.
# Idempotent: installs only what is missing. Where it cannot install (not root, no apt-get) it says
# why and exits 0, and those tests then skip with that reason; where it could and the install
# failed (twice), it exits 1, so that CI does not pass green without having run them.
#
#   ci/install-system-deps.sh             # everything
#   RXRANK_SLURM=0 ci/install-system-deps.sh        # no SLURM
#   RXRANK_SLURM_ACCOUNTING=0 ci/install-system-deps.sh   # SLURM without slurmdbd/MariaDB
#   RXRANK_BROWSER=0 ci/install-system-deps.sh      # no Chromium
#
# The packages come with --no-install-recommends; no service is started by the install (a
# temporary policy-rc.d denies it), the test starts and stops its own daemons by PID.
set -uo pipefail

say() { echo "install-system-deps: $*"; }
slurm_version() { dpkg-query -W -f='${Version}' slurm-client 2>/dev/null || echo unknown; }

# binary or file -> Debian package
declare -A PKG=()
if [[ ${RXRANK_SLURM:-1} == 0 ]]; then
    say "RXRANK_SLURM=0: not installing SLURM (the scheduler tests will skip)"
else
    PKG+=([munged]=munge [slurmctld]=slurmctld [slurmd]=slurmd [sbatch]=slurm-client)
    if [[ ${RXRANK_SLURM_ACCOUNTING:-1} != 0 ]]; then
        PKG+=([slurmdbd]=slurmdbd [mariadbd]=mariadb-server [mariadb]=mariadb-client)
    fi
fi
if [[ ${RXRANK_BROWSER:-1} == 0 ]]; then
    say "RXRANK_BROWSER=0: not installing Chromium (the browser test will skip)"
else
    PKG+=([chromium]=chromium [/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]=fonts-dejavu-core)
fi

missing=()
for bin in "${!PKG[@]}"; do
    [[ $bin == /* && -e $bin ]] && continue
    command -v "$bin" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$bin" >/dev/null 2>&1 \
        || missing+=("${PKG[$bin]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    say "system packages already installed (slurm-client $(slurm_version))"
    exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -ne 0 ]]; then
    say "not root: cannot install ${missing[*]}; the SLURM tests will skip." \
        "As root: apt-get install --no-install-recommends ${missing[*]}"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get (not Debian/Ubuntu): cannot install ${missing[*]}; the SLURM tests will skip"
    exit 0
fi

say "installing ${missing[*]}"
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# no service starts during the install: the tests run their own daemons
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
fi
ok=0
for attempt in 1 2; do
    if timeout -k 10 300 apt-get update -qq >/tmp/rxrank-apt-update.log 2>&1 \
        && timeout -k 10 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" \
            >/tmp/rxrank-apt-install.log 2>&1; then
        ok=1
        break
    fi
    say "attempt $attempt failed: $(tail -3 /tmp/rxrank-apt-update.log /tmp/rxrank-apt-install.log 2>/dev/null)"
    sleep 5
done
[[ $own_policy -eq 1 ]] && rm -f "$policy"
if [[ $ok -eq 1 ]]; then
    say "installed in $((SECONDS - start)) s (slurm-client $(slurm_version), $(chromium --version 2>/dev/null || echo 'no chromium'))"
else
    say "could not install ${missing[*]}"
    exit 1
fi
exit 0
