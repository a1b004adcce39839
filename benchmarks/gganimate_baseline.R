# The baseline shrinkage animation drawn the R way: lme4 for the fit, ggplot2 + gganimate for the
# frames, magick for the GIF. benchmarks/render.py times this script as the reference pipeline.
#
# Usage: Rscript benchmarks/gganimate_baseline.R DATA.csv OUT.gif
#
# DATA.csv holds the simulated rows (columns y, x, cluster) that shrinkvis draws for the baseline
# scenario; benchmarks/render.py writes it with shrinkvis.simulate, so both pipelines fit the same data.
# The animation matches shrinkvis's: 120 frames, 600×450 px, 10 fps; the clusters travel from their
# own OLS estimates (no pooling) to the mixed model's (partial pooling) with cubic-in-out easing,
# holding the start for 15% and the end for 25% of the frames; the fixed effects are a black point.

suppressPackageStartupMessages({
  library(lme4)
  library(ggplot2)
  library(gganimate)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript gganimate_baseline.R DATA.csv OUT.gif")
started <- Sys.time()
data <- read.csv(args[[1]])
data$cluster <- factor(data$cluster)

# no pooling: one OLS per cluster
no_pool <- do.call(rbind, lapply(split(data, data$cluster), function(rows) {
  coefs <- coef(lm(y ~ x, data = rows))
  data.frame(cluster = rows$cluster[[1]], intercept = coefs[[1]], slope = coefs[[2]])
}))
# partial pooling: y ~ x + (x | cluster) by REML
model <- lmer(y ~ x + (x | cluster), data = data, REML = TRUE)
partial <- coef(model)$cluster
partial <- data.frame(cluster = rownames(partial), intercept = partial[, 1], slope = partial[, 2])
fixed <- fixef(model)
fitted <- Sys.time()

states <- rbind(
  transform(no_pool, pooling = "No pooling (per-cluster OLS)"),
  transform(partial, pooling = "Partial pooling (mixed model)")
)
states$pooling <- factor(states$pooling, levels = unique(states$pooling))

plot <- ggplot(states, aes(intercept, slope, group = cluster, colour = pooling)) +
  annotate("point", x = fixed[[1]], y = fixed[[2]], colour = "grey10", size = 9, alpha = 0.15) +
  geom_point(size = 2) +
  annotate("point", x = fixed[[1]], y = fixed[[2]], colour = "grey10", size = 3.5) +
  scale_colour_manual(values = c("#E69F00", "#0072B2"), name = NULL) +
  labs(title = "Baseline", subtitle = "100 clusters of 10 rows with modest variation in intercepts and slopes.",
       x = "Intercept (per cluster)", y = "Slope of x (per cluster)") +
  theme_minimal(base_size = 11) +
  theme(legend.position = "bottom") +
  # 120 frames: 18 holding the start, 72 moving, 30 holding the end (as shrinkvis's timeline)
  transition_states(pooling, transition_length = 72, state_length = c(18, 30), wrap = FALSE) +
  ease_aes("cubic-in-out")

animation <- animate(plot, nframes = 120, fps = 10, width = 600, height = 450,
                     renderer = magick_renderer())
drawn <- Sys.time()
magick::image_write(animation, args[[2]], format = "gif")
written <- Sys.time()

seconds <- function(from, to) round(as.numeric(difftime(to, from, units = "secs")), 2)
cat(sprintf("fit %.2f s, draw %.2f s, encode %.2f s, total %.2f s\n",
            seconds(started, fitted), seconds(fitted, drawn), seconds(drawn, written),
            seconds(started, written)))
