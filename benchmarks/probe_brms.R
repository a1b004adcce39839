# For sizes where brms's full run would take hours: time brms's preparation and compilation, then ITER
# iterations (half warm-up) of one chain, and print one JSON line (used by bayes.py --brms-probe, which
# extrapolates to the default 4 chains x 2,000 iterations on 2 cores). Same model and priors as fit_brms.R.
# Usage: Rscript probe_brms.R FILE.csv ITER
suppressPackageStartupMessages(library(brms))
args <- commandArgs(trailingOnly = TRUE)
iter <- as.integer(args[2])
started <- Sys.time()
data <- read.csv(args[1])
data$cluster <- factor(data$cluster)
compiled <- brm(y ~ x + (x | cluster), data = data, chains = 0, silent = 2)
prepared <- Sys.time()
model <- update(compiled, chains = 1, cores = 1, iter = iter, warmup = iter %/% 2, seed = 1, refresh = 0,
                silent = 2)
finished <- Sys.time()
cat(sprintf('{"prepare_seconds": %.1f, "sample_seconds": %.1f, "iter": %d, "b_x": %.6f}\n',
            as.numeric(difftime(prepared, started, units = "secs")),
            as.numeric(difftime(finished, prepared, units = "secs")), iter,
            mean(as.data.frame(model, variable = "b_x")$b_x)))
