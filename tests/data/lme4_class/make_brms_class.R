# brms references for the Bayesian engine on the whole one-grouping-factor class (issue 25 §3): brms's fits,
# at its default priors, of formulas from make_lme4_class.R on the same data (class.csv). Run from the
# repository root (compiles one Stan model per formula, ~1 min each):
#
#   Rscript tests/data/lme4_class/make_brms_class.R [CASE ...]
#
# Writes tests/data/lme4_class/<case>_brms.json: priors (prior_summary), population (every b_, sd_, cor_
# and sigma: mean, sd, q2.5, q50, q97.5, mcse_mean, rhat, ess_bulk, ess_tail), clusters (brms's coef():
# each cluster's own coefficient of every group-level term, mean, sd, q2.5, q97.5), divergent transitions,
# versions and wall time.
suppressPackageStartupMessages({
  library(brms)
  library(posterior)
  library(jsonlite)
})
here <- "tests/data/lme4_class"
options(mc.cores = 2)

cases <- list(
  three_fixed = "y ~ x1 + x2 + x3 + (1 + x1 | cluster)",
  no_intercept = "y ~ 0 + x1 + x2 + (1 + x2 | cluster)",
  slope_not_fixed = "y ~ x1 + (1 + x2 | cluster)",
  independent = "y ~ x1 + (x1 || cluster)",
  two_bars = "y ~ x1 + x2 + (1 + x1 | cluster) + (0 + x2 | cluster)",
  factor = "y ~ x1 + treat + (1 + x1 | cluster)",
  log_n = "y ~ x1 + log(n) + (x1 | cluster)",
  two_slopes = "y ~ x1 + x2 + (1 + x1 + x2 | cluster)"
)
wanted <- commandArgs(trailingOnly = TRUE)
if (length(wanted) == 0) wanted <- names(cases)

frame <- read.csv(file.path(here, "class.csv"))
frame$treat <- factor(frame$treat)
for (name in wanted) {
  started <- proc.time()[["elapsed"]]
  fit <- brm(as.formula(cases[[name]]), data = frame, family = gaussian(), chains = 4, iter = 3500,
             warmup = 1000, seed = 25, control = list(adapt_delta = 0.95), refresh = 0)
  seconds <- proc.time()[["elapsed"]] - started
  draws <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$)", variables(draws), value = TRUE)
  population <- summarise_draws(subset_draws(draws, variable = keep), mean, sd,
                                ~quantile(.x, c(0.025, 0.5, 0.975)), mcse_mean, rhat, ess_bulk, ess_tail)
  names(population)[match(c("2.5%", "50%", "97.5%"), names(population))] <- c("q2.5", "q50", "q97.5")
  coefs <- coef(fit)$cluster  # clusters x (Estimate, Est.Error, Q2.5, Q97.5) x coefficient
  clusters <- do.call(rbind, lapply(dimnames(coefs)[[3]], function(term) {
    data.frame(cluster = rownames(coefs), coefficient = term, mean = coefs[, "Estimate", term],
               sd = coefs[, "Est.Error", term], q2.5 = coefs[, "Q2.5", term], q97.5 = coefs[, "Q97.5", term])
  }))
  out <- list(case = name, formula = cases[[name]], n_obs = nrow(frame),
              n_groups = length(unique(frame$cluster)),
              priors = as.data.frame(prior_summary(fit)), population = as.data.frame(population),
              clusters = clusters,
              divergent = sum(subset(nuts_params(fit), Parameter == "divergent__")$Value),
              chains = 4, draws_per_chain = 2500, warmup = 1000, adapt_delta = 0.95,
              seconds_compile_and_sample = seconds,
              brms_version = as.character(packageVersion("brms")), r_version = R.version.string)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
             file.path(here, paste0(name, "_brms.json")))
  print(population)
}
