# brms references for the Bayesian side of issue 27 (binomial random intercept; known SEs), at brms's
# default priors, written as JSON beside this script:
#   Rscript tests/data/glmm/make_brms.R      (from the repository root; compiles two Stan models)
suppressPackageStartupMessages({
  library(brms)
  library(posterior)
  library(jsonlite)
})
here <- "tests/data/glmm"
builtin <- "shrinkvis/scenarios"
options(mc.cores = 1)

summarise_fit <- function(name, fit, data, group, seconds, note) {
  draws <- as_draws_df(fit)
  keep <- grep("^(b_Intercept|sd_)", variables(draws), value = TRUE)
  population <- summarise_draws(subset_draws(draws, variable = keep),
                                mean, sd, ~quantile(.x, c(0.025, 0.5, 0.975)), mcse_mean, rhat, ess_bulk)
  coefs <- coef(fit, summary = FALSE)[[group]][, , "Intercept"]  # draws × clusters, link scale
  clusters <- data.frame(cluster = colnames(coefs), mean = colMeans(coefs), sd = apply(coefs, 2, sd),
                         mcse_mean = apply(coefs, 2, function(x) posterior::mcse_mean(x)))
  if (family(fit)$family == "binomial") {
    rates <- plogis(coefs)
    clusters$rate_mean <- colMeans(rates)
    clusters$rate_sd <- apply(rates, 2, sd)
    clusters$rate_mcse_mean <- apply(rates, 2, function(x) posterior::mcse_mean(x))
  }
  out <- list(name = name, note = note, formula = as.character(formula(fit))[1],
              priors = as.data.frame(prior_summary(fit)),
              population = as.data.frame(population), clusters = clusters,
              divergent = sum(subset(nuts_params(fit), Parameter == "divergent__")$Value),
              chains = 4, draws_per_chain = 5000, warmup = 1000, adapt_delta = 0.95,
              seconds_compile_and_sample = seconds,
              brms_version = as.character(packageVersion("brms")), data = data)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
             file.path(here, paste0(name, ".json")))
  print(population)
}

surgical <- read.csv(file.path(builtin, "surgical.csv"))
started <- proc.time()[["elapsed"]]
fit <- brm(deaths | trials(operations) ~ 1 + (1 | hospital), data = surgical, family = binomial(),
           chains = 4, iter = 6000, warmup = 1000, seed = 27, control = list(adapt_delta = 0.95), refresh = 0)
summarise_fit("surgical_brms", fit, surgical, "hospital", proc.time()[["elapsed"]] - started,
              "binomial random intercept at brms's default priors")

schools <- read.csv(file.path(builtin, "eight_schools.csv"))
started <- proc.time()[["elapsed"]]
fit <- brm(effect | se(se) ~ 1 + (1 | school), data = schools, family = gaussian(),
           chains = 4, iter = 6000, warmup = 1000, seed = 27, control = list(adapt_delta = 0.99), refresh = 0)
summarise_fit("eight_schools_brms", fit, schools, "school", proc.time()[["elapsed"]] - started,
              "known SEs (se()), sigma fixed at 0, at brms's default priors")
