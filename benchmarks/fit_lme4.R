# Fit y ~ x + (x | cluster) with lme4 on a CSV and print one JSON line (used by fit_scaling.py).
# Usage: Rscript fit_lme4.R FILE.csv
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$cluster <- factor(data$cluster)
model <- lmer(y ~ x + (x | cluster), data = data, REML = TRUE)
fe <- fixef(model)
cat(sprintf('{"reml_criterion": %.10f, "Intercept": %.10f, "x": %.10f}\n',
            REMLcrit(model), fe[["(Intercept)"]], fe[["x"]]))
