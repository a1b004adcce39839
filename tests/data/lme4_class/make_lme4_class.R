# lme4's fits of the whole one-grouping-factor class, stored for tests/test_lmm.py.
#
#   cd tests/data/lme4_class && Rscript make_lme4_class.R
#
# Made with R 4.2.2, lme4 1.1-31, jsonlite 1.8.4 (Debian bookworm packages). Writes
#   class.csv                one simulated data set (40 clusters of 3-20 rows; columns y, x1 .. x3, treat, n, cluster)
#   <case>_<REML|ML>.json    lme4's numbers for one formula fitted to it
#   statsmodels_<k>_<drf|irf>_<REML|ML>.json   lme4's fits of statsmodels' own MixedLM test data
#                            (statsmodels_lmeNN.csv, copied from statsmodels/regression/tests/results/)
# Tight optimizer settings (bobyqa, rhoend 1e-12) so that the numbers are lme4's optimum, not where its
# default tolerances stop. Each JSON holds fixef, vcov, VarCorr (sd per term, correlations within a bar),
# sigma, logLik, the criterion (REMLcrit or deviance), theta, isSingular, the conditional modes (ranef)
# and their full conditional covariances sigma^2 Lambda (L L')^-1 Lambda' per cluster (condVar; lme4's
# postVar for one bar, the block-diagonal combination for several).
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

control <- lmerControl(
  optimizer = "bobyqa",
  optCtrl = list(rhobeg = 2e-1, rhoend = 1e-12, maxfun = 1e6),
  check.conv.singular = .makeCC(action = "ignore", tol = 1e-4)
)

simulate_class <- function() {
  set.seed(25)
  sizes <- sample(3:20, 40, replace = TRUE)
  cluster <- rep(sprintf("c%02d", seq_along(sizes)), sizes)
  j <- rep(seq_along(sizes), sizes)
  rows <- length(j)
  x1 <- rnorm(rows, 5, 2)  # away from zero on purpose: the fit must not care
  x2 <- rnorm(rows)
  x3 <- runif(rows, 100, 110)
  treat <- factor(sample(c("A", "B", "C"), rows, replace = TRUE))
  b0 <- rnorm(40, 0, 1.5)[j]
  b1 <- rnorm(40, 0, 0.4)[j]
  b2 <- rnorm(40, 0, 0.7)[j]
  n <- sizes[j]
  y <- 3 + 0.5 * x1 - 1 * x2 + 0.3 * (x3 - 105) + 0.8 * (treat == "B") - 0.5 * (treat == "C") +
    0.6 * log(n) + b0 + b1 * (x1 - 5) + b2 * x2 + rnorm(rows, 0, 1)
  data.frame(y = round(y, 6), x1 = round(x1, 6), x2 = round(x2, 6), x3 = round(x3, 6), treat = treat,
             n = n, cluster = cluster)
}

# the conditional covariances of the random effects per cluster, q x q, in Z's column order
cond_var <- function(model) {
  lambda <- getME(model, "Lambda")
  factor_l <- getME(model, "L")
  inner <- Matrix::solve(factor_l, Matrix::Diagonal(ncol(lambda)), system = "A")
  full <- as.matrix(sigma(model)^2 * lambda %*% inner %*% Matrix::t(lambda))
  cnms <- getME(model, "cnms")
  gp <- getME(model, "Gp")
  levels_g <- levels(getME(model, "flist")[[1]])
  q <- sum(lengths(cnms))
  out <- array(0, c(q, q, length(levels_g)))
  offsets <- cumsum(c(0, lengths(cnms)))
  for (k in seq_along(cnms)) {
    width <- length(cnms[[k]])
    for (m in seq_along(cnms)) {
      w2 <- length(cnms[[m]])
      for (l in seq_along(levels_g)) {
        rows <- gp[k] + (l - 1) * width + seq_len(width)
        cols <- gp[m] + (l - 1) * w2 + seq_len(w2)
        out[offsets[k] + seq_len(width), offsets[m] + seq_len(w2), l] <- full[rows, cols]
      }
    }
  }
  lapply(seq_along(levels_g), function(l) out[, , l, drop = FALSE][, , 1])
}

fit_numbers <- function(formula, frame, reml) {
  messages <- character(0)
  model <- withCallingHandlers(
    lmer(as.formula(formula), data = frame, REML = reml, control = control),
    warning = function(w) {
      messages <<- c(messages, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  messages <- c(messages, model@optinfo$conv$lme4$messages)
  vc <- as.data.frame(VarCorr(model), order = "lower.tri")
  sd_rows <- vc[vc$grp != "Residual" & is.na(vc$var2), ]
  cor_rows <- vc[vc$grp != "Residual" & !is.na(vc$var2), ]
  re_terms <- unlist(getME(model, "cnms"), use.names = FALSE)
  modes <- ranef(model)[[1]]
  list(
    formula = formula,
    REML = reml,
    fixef_names = names(fixef(model)),
    fixef = as.list(fixef(model)),
    vcov = unname(as.matrix(vcov(model))),
    re_terms = re_terms,
    sd = setNames(as.list(sd_rows$sdcor), sd_rows$var1),
    cor = setNames(as.list(cor_rows$sdcor), paste(cor_rows$var1, cor_rows$var2, sep = ":")),
    sigma = sigma(model),
    loglik = as.numeric(logLik(model)),
    criterion = if (reml) REMLcrit(model) else deviance(model),
    theta = unname(getME(model, "theta")),
    is_singular = isSingular(model, tol = 1e-4),
    messages = messages,
    clusters = rownames(modes),
    ranef = unname(as.matrix(modes[, re_terms, drop = FALSE])),
    cond_var = cond_var(model),
    n_obs = nrow(frame),
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4"))
  )
}

write_case <- function(name, numbers) {
  writeLines(toJSON(numbers, auto_unbox = TRUE, digits = NA, pretty = TRUE), paste0(name, ".json"))
}

frame <- simulate_class()
write.csv(frame, "class.csv", row.names = FALSE)

cases <- list(
  three_fixed = "y ~ x1 + x2 + x3 + (1 + x1 | cluster)",
  no_intercept = "y ~ 0 + x1 + x2 + (1 + x2 | cluster)",
  slope_not_fixed = "y ~ x1 + (1 + x2 | cluster)",
  independent = "y ~ x1 + (x1 || cluster)",
  two_bars = "y ~ x1 + x2 + (1 + x1 | cluster) + (0 + x2 | cluster)",
  factor = "y ~ x1 + treat + (1 + x1 | cluster)",
  log_n = "y ~ x1 + log(n) + (x1 | cluster)",
  two_slopes = "y ~ x1 + x2 + (1 + x1 + x2 | cluster)",
  interaction = "y ~ x1 * treat + I(x2^2) + (1 | cluster)",
  factor_slopes = "y ~ x1 + (0 + treat | cluster)",
  poly = "y ~ poly(x1, 2) + (1 | cluster)",
  three_slopes = "y ~ x1 + x2 + (x1 + x2 + x3 | cluster)"
)
for (name in names(cases)) {
  for (reml in c(TRUE, FALSE)) {
    write_case(paste0(name, "_", if (reml) "REML" else "ML"), fit_numbers(cases[[name]], frame, reml))
  }
}

# statsmodels' MixedLM test data (its own lme_results.R fits the same formulas with lme4's defaults)
for (file in list.files(pattern = "^statsmodels_lme[0-9]+\\.csv$")) {
  data <- read.csv(file)
  data$groups <- factor(data$groups)
  fe <- grep("exog_fe", names(data), value = TRUE)
  re <- grep("exog_re", names(data), value = TRUE)
  key <- sub("\\.csv$", "", file)
  for (irf in c(FALSE, TRUE)) {
    if (irf && length(re) == 1) next
    bars <- if (irf) paste(sprintf("(0 + %s | groups)", re), collapse = " + ") else
      sprintf("(0 + %s | groups)", paste(re, collapse = " + "))
    formula <- sprintf("endog ~ 0 + %s + %s", paste(fe, collapse = " + "), bars)
    for (reml in c(TRUE, FALSE)) {
      name <- paste0(key, "_", if (irf) "irf" else "drf", "_", if (reml) "REML" else "ML")
      write_case(name, fit_numbers(formula, data, reml))
    }
  }
}
