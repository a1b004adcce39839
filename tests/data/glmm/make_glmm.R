# Reference fits for shrinkvis's binomial/Poisson random-intercept engine (lme4::glmer) and its
# known-SE meta-analysis (metafor::rma), written as JSON beside this script.
#
#   Rscript tests/data/glmm/make_glmm.R        (from the repository root)
#
# Data: the built-in tables in shrinkvis/scenarios/ (surgical, baseball, eight_schools) and
# tests/data/glmm/hospitals.csv (written by shrinkvis's own `hospitals` simulation, seed of the scenario).
# glmer runs with bobyqa and PIRLS at tight tolerances, so the numbers are the optimum itself;
# `default_control` holds glmer's answer at its default settings beside them.
suppressPackageStartupMessages({
  library(lme4)
  library(metafor)
  library(jsonlite)
})
here <- "tests/data/glmm"
builtin <- "shrinkvis/scenarios"
# tolPwrss: glmer's default (1e-7) stops the inner PIRLS iterations early enough to move the Laplace
# optimum by up to 1e-4 in the fixed effects on these data; at 1e-12 the conditional modes are exact.
control <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

glmer_case <- function(name, formula, data, family, nAGQ, group, note) {
  started <- proc.time()[["elapsed"]]
  fit <- glmer(formula, data = data, family = family, nAGQ = nAGQ, control = control)
  seconds <- proc.time()[["elapsed"]] - started
  re <- ranef(fit, condVar = TRUE)[[group]]
  cond_sd <- sqrt(as.numeric(attr(re, "postVar")))
  vc <- as.data.frame(VarCorr(fit))
  # what glmer gives at its default settings, for the printed digits a user sees
  plain <- glmer(formula, data = data, family = family, nAGQ = nAGQ)
  default_control <- list(fixed_effects = as.list(fixef(plain)), theta = unname(getME(plain, "theta")),
                          std_errors = as.list(sqrt(diag(as.matrix(vcov(plain))))),
                          logLik = as.numeric(logLik(plain)))
  list(
    name = name, note = note, formula = paste(deparse(formula, width.cutoff = 500), collapse = ""),
    family = family$family, link = family$link, nAGQ = nAGQ,
    n_obs = nobs(fit), n_groups = nlevels(data[[group]]),
    fixed_effects = as.list(fixef(fit)),
    std_errors = as.list(sqrt(diag(as.matrix(vcov(fit))))),
    vcov = unname(as.matrix(vcov(fit))),
    sd_intercept = vc$sdcor[1], variance_intercept = vc$vcov[1],
    theta = unname(getME(fit, "theta")),
    logLik = as.numeric(logLik(fit)), deviance = deviance(fit), AIC = AIC(fit),
    is_singular = isSingular(fit),
    clusters = data.frame(
      cluster = rownames(re),
      conditional_mode = re[["(Intercept)"]],
      conditional_sd = cond_sd,
      coef = coef(fit)[[group]][["(Intercept)"]]
    ),
    default_control = default_control,
    lme4_version = as.character(packageVersion("lme4")), seconds = seconds
  )
}

write_case <- function(case, data) {
  case$data <- data
  writeLines(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
             file.path(here, paste0(case$name, ".json")))
  cat(case$name, "logLik", case$logLik, "\n")
}

# ---- surgical: 12 hospitals (BUGS Examples vol. 1, "Surgical"; Spiegelhalter et al. 1996)
surgical <- read.csv(file.path(builtin, "surgical.csv"))
surgical$hospital <- factor(surgical$hospital)
rows <- do.call(rbind, lapply(seq_len(nrow(surgical)), function(i) {
  data.frame(hospital = surgical$hospital[i],
             died = rep(c(1, 0), c(surgical$deaths[i], surgical$operations[i] - surgical$deaths[i])))
}))
for (q in c(1, 10)) {
  write_case(glmer_case(sprintf("surgical_binomial_agq%d", q),
                        cbind(deaths, operations - deaths) ~ 1 + (1 | hospital),
                        surgical, binomial(), q, "hospital",
                        "cbind form: logLik includes log choose(n, r)"), surgical)
  write_case(glmer_case(sprintf("surgical_rows_agq%d", q), died ~ 1 + (1 | hospital),
                        rows, binomial(), q, "hospital",
                        "one 0/1 row per operation: same estimates, logLik without log choose(n, r)"),
             surgical)
  write_case(glmer_case(sprintf("surgical_poisson_agq%d", q),
                        deaths ~ 1 + offset(log(operations)) + (1 | hospital),
                        surgical, poisson(), q, "hospital", "deaths per operation as a Poisson rate"),
             surgical)
}

# ---- baseball: Efron and Morris (1975), Table 1: hits in the first 45 at-bats of 1970
baseball <- read.csv(file.path(builtin, "baseball.csv"))
baseball$player <- factor(baseball$player)
for (q in c(1, 10)) {
  write_case(glmer_case(sprintf("baseball_binomial_agq%d", q), cbind(hits, at_bats - hits) ~ 1 + (1 | player),
                        baseball, binomial(), q, "player", "Efron and Morris (1975), first 45 at-bats"),
             baseball)
}

# ---- hospitals: shrinkvis's simulation (many sizes, true size-mortality relation)
hospitals <- read.csv(file.path(here, "hospitals.csv"))
hospitals$hospital <- factor(hospitals$hospital)
hospitals$log_cases <- log(hospitals$cases)
for (q in c(1, 10)) {
  write_case(glmer_case(sprintf("hospitals_binomial_agq%d", q), cbind(deaths, cases - deaths) ~ 1 + (1 | hospital),
                        hospitals, binomial(), q, "hospital", "simulated; model ignores size"),
             hospitals)
}
write_case(glmer_case("hospitals_binomial_size_agq1", cbind(deaths, cases - deaths) ~ log_cases + (1 | hospital),
                      hospitals, binomial(), 1, "hospital", "simulated; log(cases) as a fixed effect"),
           hospitals)
write_case(glmer_case("hospitals_poisson_agq1", deaths ~ 1 + offset(log(cases)) + (1 | hospital),
                      hospitals, poisson(), 1, "hospital", "simulated; deaths per case as a Poisson rate"),
           hospitals)

# ---- eight schools: Rubin (1981), Table 2; random-effects meta-analysis by REML and ML
schools <- read.csv(file.path(builtin, "eight_schools.csv"))
# the same SEs with every effect tripled: a case whose τ² lies inside, not on the boundary
tripled <- transform(schools, effect = 3 * effect)
for (method in c("REML", "ML", "tripled")) {
  if (method == "tripled") {
    fit <- rma(yi = effect, sei = se, data = tripled, method = "REML")
  } else {
    fit <- rma(yi = effect, sei = se, data = schools, method = method)
  }
  pred <- blup(fit)
  re <- ranef(fit)
  case <- list(
    name = sprintf("eight_schools_%s", tolower(method)), method = method,
    mu = as.numeric(coef(fit)), se_mu = fit$se, ci_mu = c(fit$ci.lb, fit$ci.ub),
    tau2 = fit$tau2, se_tau2 = fit$se.tau2, I2 = fit$I2, H2 = fit$H2, QE = fit$QE, QEp = fit$QEp,
    logLik = as.numeric(logLik(fit)),
    clusters = data.frame(cluster = schools$school, blup = pred$pred, blup_se = pred$se,
                          random_effect = re$pred, random_effect_se = re$se,
                          weight = weights(fit)),
    metafor_version = as.character(packageVersion("metafor"))
  )
  write_case(case, if (method == "tripled") tripled else schools)
}
