# Fit y ~ x + (x | cluster) with brms (default priors, 4 chains x 1,000 draws after 1,000 warm-up, 2 cores)
# on a CSV and print one JSON line (used by bayes.py). The time includes compiling the Stan model.
# Usage: Rscript fit_brms.R FILE.csv
suppressPackageStartupMessages(library(brms))
args <- commandArgs(trailingOnly = TRUE)
started <- Sys.time()
data <- read.csv(args[1])
data$cluster <- factor(data$cluster)
model <- brm(y ~ x + (x | cluster), data = data, chains = 4, cores = 2, seed = 1, refresh = 0, silent = 2)
draws <- as.data.frame(model, variable = c("b_Intercept", "b_x", "sd_cluster__Intercept", "sigma"))
cat(sprintf('{"b_Intercept": %.6f, "b_x": %.6f, "sd_cluster__Intercept": %.6f, "sigma": %.6f, "seconds": %.1f}\n',
            mean(draws$b_Intercept), mean(draws$b_x), mean(draws$sd_cluster__Intercept), mean(draws$sigma),
            as.numeric(difftime(Sys.time(), started, units = "secs"))))
