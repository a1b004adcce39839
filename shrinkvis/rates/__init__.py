"""Shrinkage of rates and of published estimates.

Binomial and Poisson random-intercept models (hospital mortality, batting averages) and the
random-effects meta-analysis of estimates with known standard errors (eight schools). The fits live in
`shrinkvis.fit.glmm` and `shrinkvis.fit.meta`; this package holds the rest of their path: the built-in
data sets (`datasets`), the `hospitals` simulation (`simulate`), and the run (`pipeline`).
"""
