# glmer's side of benchmarks/rates.sh: read the table, fit the binomial random intercept (default
# settings, nAGQ = 1), print the estimates and the seconds of the fit alone.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$hospital <- factor(data$hospital)
started <- proc.time()[["elapsed"]]
fit <- glmer(cbind(deaths, cases - deaths) ~ 1 + (1 | hospital), data = data, family = binomial)
seconds <- proc.time()[["elapsed"]] - started
cat(sprintf("glmer: intercept %.6f, SD %.6f, logLik %.4f, fit %.2f s\n",
            fixef(fit)[[1]], getME(fit, "theta")[[1]], as.numeric(logLik(fit)), seconds))
