#!/usr/bin/env bash
# R for the benchmarks and cross-checks (not needed by the product or its tests): lme4, brms (rstan),
# gganimate and magick from Debian's packages. Debian's r-cran-bh keeps Boost in /usr/include (from
# libboost-dev) rather than in the package folder, where rstan looks for it when it compiles a model
# ("Boost not found; call install.packages('BH')"): the link below points it there.
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo -n"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q r-base-core r-cran-lme4 r-cran-brms r-cran-bh \
    r-cran-gganimate r-cran-magick
bh=$(Rscript -e 'cat(find.package("BH"))')
if [ ! -e "$bh/include/boost" ]; then
    $sudo ln -sfn /usr/include "$bh/include"
fi
Rscript -e 'stopifnot(nzchar(system.file("include", "boost", package = "BH"))); cat("R ready\n")'
