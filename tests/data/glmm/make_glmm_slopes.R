# Reference fits for shrinkvis's binomial/Poisson random-slope engine (Laplace, lme4::glmer nAGQ = 1),
# written as JSON beside this script, with the simulated data as CSV.
#
#   Rscript tests/data/glmm/make_glmm_slopes.R        (from the repository root)
#
# Data: simulated here (seed 2727): 40 groups, 6 rows each, a predictor x, random intercepts and slopes
# with SDs 0.6 and 0.35 and correlation 0.4 on the link scale.
# glmer runs with bobyqa and PIRLS at tight tolerances (as make_glmm.R), so the numbers are the Laplace
# optimum itself; `default_control` holds glmer's answer at its default settings beside them.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
here <- "tests/data/glmm"
control <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

set.seed(2727)
n_groups <- 40
per_group <- 6
g <- factor(rep(sprintf("g%02d", seq_len(n_groups)), each = per_group))
x <- round(rep(seq(-1, 1, length.out = per_group), n_groups) + rnorm(n_groups * per_group, 0, 0.2), 3)
sd_b <- c(0.6, 0.35)
rho <- 0.4
cov_b <- diag(sd_b) %*% matrix(c(1, rho, rho, 1), 2) %*% diag(sd_b)
b <- MASS::mvrnorm(n_groups, c(0, 0), cov_b)
gi <- as.integer(g)
n <- sample(5:40, n_groups * per_group, replace = TRUE)
eta_binomial <- -1 + 0.5 * x + b[gi, 1] + b[gi, 2] * x
r <- rbinom(length(n), n, plogis(eta_binomial))
exposure <- round(runif(length(n), 0.5, 3), 2)
eta_poisson <- 0.3 - 0.4 * x + b[gi, 1] + b[gi, 2] * x + log(exposure)
events <- rpois(length(n), exp(eta_poisson))
slopes <- data.frame(g = g, x = x, r = r, n = n, events = events, exposure = exposure)
write.csv(slopes, file.path(here, "slopes.csv"), row.names = FALSE)
slopes <- read.csv(file.path(here, "slopes.csv"))  # exactly what the tests read
slopes$g <- factor(slopes$g)

summarise <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  list(fixed_effects = as.list(fixef(fit)), std_errors = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       theta = unname(getME(fit, "theta")), logLik = as.numeric(logLik(fit)),
       sd = list(intercept = vc$sdcor[1], x = vc$sdcor[2]), cor = vc$sdcor[3])
}

slope_case <- function(name, formula, family) {
  started <- proc.time()[["elapsed"]]
  fit <- glmer(formula, data = slopes, family = family, control = control)
  seconds <- proc.time()[["elapsed"]] - started
  re <- ranef(fit, condVar = TRUE)$g
  post <- attr(re, "postVar")
  plain <- glmer(formula, data = slopes, family = family)
  # glmer refuses more than one node for a vector-valued random effect: its message, for the record
  refused <- tryCatch({ glmer(formula, data = slopes, family = family, nAGQ = 2); "no error" },
                      error = function(e) conditionMessage(e))
  case <- c(
    list(name = name, formula = paste(deparse(formula, width.cutoff = 500), collapse = ""),
         family = family$family, link = family$link, nAGQ = 1, n_obs = nobs(fit), n_groups = nlevels(slopes$g)),
    summarise(fit),
    list(vcov = unname(as.matrix(vcov(fit))), deviance = deviance(fit), AIC = AIC(fit), BIC = BIC(fit),
         is_singular = isSingular(fit),
         clusters = data.frame(cluster = rownames(re), mode_intercept = re[["(Intercept)"]], mode_x = re[["x"]],
                               var_intercept = post[1, 1, ], cov = post[1, 2, ], var_x = post[2, 2, ]),
         default_control = summarise(plain), nagq2_error = refused,
         lme4_version = as.character(packageVersion("lme4")), seconds = seconds)
  )
  writeLines(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
             file.path(here, paste0(name, ".json")))
  cat(name, "logLik", case$logLik, "\n")
  print(summary(fit))
}

slope_case("slopes_binomial_laplace", cbind(r, n - r) ~ x + (x | g), binomial())
slope_case("slopes_poisson_laplace", events ~ x + offset(log(exposure)) + (x | g), poisson())

# the same Poisson data with a random intercept only: a predictor and an offset in the rows' path of the
# random-intercept engine (its logLik counts log(exposure) once)
fit <- glmer(events ~ x + offset(log(exposure)) + (1 | g), data = slopes, family = poisson(), control = control)
re <- ranef(fit, condVar = TRUE)$g
case <- list(name = "slopes_poisson_intercept_agq1", formula = "events ~ x + offset(log(exposure)) + (1 | g)",
             family = "poisson", nAGQ = 1, fixed_effects = as.list(fixef(fit)),
             std_errors = as.list(sqrt(diag(as.matrix(vcov(fit))))), theta = unname(getME(fit, "theta")),
             logLik = as.numeric(logLik(fit)),
             clusters = data.frame(cluster = rownames(re), conditional_mode = re[["(Intercept)"]]),
             lme4_version = as.character(packageVersion("lme4")))
writeLines(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
           file.path(here, paste0(case$name, ".json")))
cat(case$name, "logLik", case$logLik, "\n")
