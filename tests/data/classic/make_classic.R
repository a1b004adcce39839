# lme4's REML fits of R's classic mixed-model data sets, stored for tests/test_fit_classic.py.
#
#   cd tests/data/classic && Rscript make_classic.R
#
# Writes NAME.csv (the rows) and NAME.json (lme4's numbers) per case. Made with R 4.2.2, lme4 1.1-31,
# nlme 3.1-162, jsonlite 1.8.4 (Debian bookworm packages r-base-core, r-cran-lme4, r-cran-nlme).
# Tight optimizer settings (bobyqa, rhoend 1e-12, no early stop) so that the numbers are lme4's optimum
# itself, not where its default tolerances stop. Each case is fitted twice: on x as given ("lme4") and on
# x minus its mean ("lme4_centred", numbers for the centred x) — lme4 can stop short on x far from zero,
# and then the centred fit is the reference; `messages` holds lme4's own convergence warnings.
suppressPackageStartupMessages({
  library(lme4)
  library(nlme, include.only = character(0))
})

control <- lmerControl(
  optimizer = "bobyqa",
  optCtrl = list(rhobeg = 2e-1, rhoend = 1e-12, maxfun = 1e6),
  check.conv.singular = .makeCC(action = "ignore", tol = 1e-4)
)

cases <- list(
  sleepstudy = list(data = lme4::sleepstudy, y = "Reaction", x = "Days", group = "Subject", random = "slope"),
  sleepstudy_intercept = list(data = lme4::sleepstudy, y = "Reaction", x = "Days", group = "Subject",
                              random = "intercept"),
  Dyestuff = list(data = lme4::Dyestuff, y = "Yield", x = NULL, group = "Batch", random = "intercept"),
  Dyestuff2 = list(data = lme4::Dyestuff2, y = "Yield", x = NULL, group = "Batch", random = "intercept"),
  Orthodont = list(data = nlme::Orthodont, y = "distance", x = "age", group = "Subject", random = "slope"),
  Oxboys = list(data = nlme::Oxboys, y = "height", x = "age", group = "Subject", random = "slope"),
  ChickWeight = list(data = datasets::ChickWeight, y = "weight", x = "Time", group = "Chick", random = "slope"),
  Orange = list(data = datasets::Orange, y = "circumference", x = "age", group = "Tree", random = "slope"),
  Orange_intercept = list(data = datasets::Orange, y = "circumference", x = "age", group = "Tree",
                          random = "intercept"),
  Loblolly = list(data = datasets::Loblolly, y = "height", x = "age", group = "Seed", random = "slope"),
  BodyWeight = list(data = nlme::BodyWeight, y = "weight", x = "Time", group = "Rat", random = "slope")
)

fit_numbers <- function(frame, case) {
  rhs <- if (is.null(case$x)) "1" else "x"
  re <- if (case$random == "slope") "(x | g)" else "(1 | g)"
  messages <- character(0)
  model <- withCallingHandlers(
    lmer(as.formula(paste("y ~", rhs, "+", re)), data = frame, REML = TRUE, control = control),
    warning = function(w) {
      messages <<- c(messages, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  messages <- c(messages, model@optinfo$conv$lme4$messages)
  names_fe <- c("Intercept", if (!is.null(case$x)) case$x)
  fe <- unname(fixef(model))
  vc <- unname(as.matrix(vcov(model)))
  sds <- attr(VarCorr(model)$g, "stddev")
  corr <- if (case$random == "slope") attr(VarCorr(model)$g, "correlation")[1, 2] else NULL
  re_modes <- ranef(model, condVar = TRUE)$g
  post <- attr(re_modes, "postVar")
  coefs <- coef(model)$g
  clusters <- lapply(seq_len(nrow(coefs)), function(j) {
    row <- list(
      cluster = rownames(coefs)[j],
      n = sum(frame$g == rownames(coefs)[j]),
      partial_intercept = coefs[j, 1],
      partial_intercept_se = sqrt(post[1, 1, j])
    )
    if (case$random == "slope") {
      row$partial_slope <- coefs[j, 2]
      row$partial_slope_se <- sqrt(post[2, 2, j])
    }
    row
  })
  list(
    fixed_effects = setNames(as.list(fe), names_fe),
    std_errors = setNames(as.list(sqrt(diag(vc))), names_fe),
    vcov = vc,
    sd_intercept = unname(sds[1]),
    sd_slope = if (case$random == "slope") unname(sds[2]) else NULL,
    corr = corr,
    residual_sd = sigma(model),
    reml_criterion = REMLcrit(model),
    theta = unname(getME(model, "theta")),
    is_singular = isSingular(model, tol = 1e-4),
    messages = as.list(messages),
    clusters = clusters
  )
}

for (name in names(cases)) {
  case <- cases[[name]]
  raw <- case$data
  frame <- data.frame(y = as.numeric(raw[[case$y]]), g = factor(as.character(raw[[case$group]])))
  if (!is.null(case$x)) frame$x <- as.numeric(raw[[case$x]])
  out <- data.frame(y = frame$y, g = as.character(frame$g))
  names(out) <- c(case$y, case$group)
  if (!is.null(case$x)) out[[case$x]] <- frame$x
  write.csv(out, paste0(name, ".csv"), row.names = FALSE)

  result <- list(
    case = name,
    columns = list(y = case$y, x = case$x, group = case$group),
    random = case$random,
    n_obs = nrow(frame),
    n_groups = nlevels(frame$g),
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    lme4 = fit_numbers(frame, case)
  )
  if (!is.null(case$x)) {
    centre <- mean(frame$x)
    centred <- frame
    centred$x <- frame$x - centre
    result$x_centre <- centre
    result$lme4_centred <- fit_numbers(centred, case)
  }
  writeLines(jsonlite::toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
             paste0(name, ".json"))
  cat(name, "done\n")
}
