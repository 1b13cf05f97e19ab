# Regenerates the rank-test reference cases in cases.txt and the normal
# quantiles in qnorm.txt with R's own wilcox.test and qnorm.
#
#   Rscript canary/testdata/ranktest/gen.R canary/testdata/ranktest
#
# Made with R 4.2.2 (Debian's r-base-core). Every number is written with
# 17 significant digits, so that the Go test reads back R's exact doubles.
#
# Each case is run twice: with wilcox.test's default root tolerance
# (tol.root = 1e-4, what R users and Kayenta get) and with tol.root = 1e-10.
# The statistic is a step function of the shift, so any point between two
# jumps is a root; only the same Brent iterations land on the same point, and
# the Go port repeats them step for step. The tight run checks that the two
# also agree when the root finder is driven to the jump itself.

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) > 0) args[[1]] else "."
set.seed(20240501)

num <- function(v) paste(sprintf("%.17g", v), collapse = " ")
lines <- character(0)
ncase <- 0

emit <- function(name, x, y, alternative = "two.sided", conf = 0.95, mu = 0,
                 correct = TRUE) {
  refs <- list()
  for (tol in c(1e-4, 1e-10)) {
    r <- tryCatch(
      suppressWarnings(wilcox.test(x, y, alternative = alternative, mu = mu,
                                   conf.int = TRUE, conf.level = conf,
                                   exact = FALSE, correct = correct,
                                   tol.root = tol)),
      error = function(e) NULL)
    if (is.null(r)) return(invisible(FALSE))
    refs[[length(refs) + 1]] <- sprintf("ref %s %s", sprintf("%.17g", tol),
      num(c(r$statistic, r$p.value, r$estimate, r$conf.int[1], r$conf.int[2])))
  }
  ncase <<- ncase + 1
  lines <<- c(lines,
    sprintf("case %s %s %s %s %d", name, alternative, sprintf("%.17g", conf),
            sprintf("%.17g", mu), as.integer(correct)),
    paste("x", length(x), num(x)),
    paste("y", length(y), num(y)),
    unlist(refs), "end")
  invisible(TRUE)
}

alts <- c("two.sided", "greater", "less")
confs <- c(0.9, 0.95, 0.98, 0.99)

# Tiny samples, continuous and with ties.
for (m in 1:5) for (n in 1:5) {
  emit(sprintf("tiny-cont-%dx%d", m, n), rnorm(m, 1), rnorm(n))
  emit(sprintf("tiny-ties-%dx%d", m, n), sample(0:3, m, TRUE), sample(0:3, n, TRUE),
       conf = 0.98)
}

# Small and medium samples from several shapes, every alternative and level.
shapes <- list(
  normal = function(k, s) rnorm(k, s),
  lognormal = function(k, s) rlnorm(k, log(100) + s, 0.5),
  heavy = function(k, s) rt(k, 2) + s,
  seconds = function(k, s) rlnorm(k, log(0.1) + s, 1))
for (i in 1:60) {
  shape <- names(shapes)[(i %% length(shapes)) + 1]
  m <- sample(c(5:30, 45:60, 100), 1)
  n <- sample(c(5:30, 45:60, 100), 1)
  shift <- sample(c(0, 0, 0.1, 0.3, 1), 1)
  x <- shapes[[shape]](m, shift)
  y <- shapes[[shape]](n, 0)
  emit(sprintf("%s-%02d-%dx%d", shape, i, m, n), x, y,
       alternative = alts[(i %% 3) + 1], conf = confs[(i %% 4) + 1],
       correct = (i %% 7) != 0)
}

# Ties from rounding, as one-minute metric points often have.
for (i in 1:40) {
  m <- sample(8:80, 1); n <- sample(8:80, 1)
  digits <- sample(0:2, 1)
  x <- round(rlnorm(m, log(20) + sample(c(0, 0.05, 0.2), 1), 0.3), digits)
  y <- round(rlnorm(n, log(20), 0.3), digits)
  emit(sprintf("rounded-%02d-%dx%d-d%d", i, m, n, digits), x, y,
       alternative = alts[(i %% 3) + 1], conf = confs[((i + 1) %% 4) + 1])
}

# Sparse counts: mostly zeros (error counts per minute), the case where
# Kayenta misses a regression against a zero baseline.
for (i in 1:25) {
  m <- sample(10:90, 1); n <- sample(10:90, 1)
  x <- rpois(m, sample(c(0.05, 0.2, 1, 3), 1))
  y <- rpois(n, sample(c(0.05, 0.2, 1), 1))
  if (i %% 5 == 0) y <- rep(0, n)
  emit(sprintf("sparse-%02d-%dx%d", i, m, n), x, y, conf = 0.98)
}

# Very unequal sizes.
for (i in 1:15) {
  small <- sample(1:6, 1); big <- sample(100:400, 1)
  if (i %% 2 == 0) {
    emit(sprintf("unequal-%02d-%dx%d", i, small, big), rnorm(small, 0.5), rnorm(big),
         conf = 0.98)
  } else {
    emit(sprintf("unequal-%02d-%dx%d", i, big, small), rnorm(big, 0.5), rnorm(small),
         alternative = alts[(i %% 3) + 1])
  }
}

# Null shifts, scales and signs.
for (i in 1:20) {
  m <- sample(10:60, 1); n <- sample(10:60, 1)
  scale <- 10^sample(-3:5, 1)
  x <- scale * rnorm(m, 0.2); y <- scale * rnorm(n)
  emit(sprintf("mu-%02d-%dx%d", i, m, n), x, y, mu = scale * sample(c(-0.5, 0.25, 1), 1),
       alternative = alts[(i %% 3) + 1], conf = confs[(i %% 4) + 1])
}

# Degenerate but valid inputs: identical samples, one constant side,
# disjoint samples, extreme separation (tiny p-values).
emit("identical", c(1, 2, 3, 4, 5), c(1, 2, 3, 4, 5))
emit("identical-ties", c(2, 2, 3, 3, 3), c(3, 2, 3, 2, 3), conf = 0.98)
emit("constant-canary", rep(7, 12), rnorm(20, 7))
emit("constant-baseline", rnorm(15, 1), rep(0, 30), conf = 0.98)
emit("disjoint", 101:130, 1:40)
emit("disjoint-rev", 1:40, 101:130, alternative = "less")
emit("separated-large", rnorm(2000, 100), rnorm(2000), conf = 0.99)
emit("one-each", 3.5, 1.25)
emit("one-vs-many", 1, 2:60)
emit("many-vs-one", 2:60, 1)

# Large samples.
for (k in c(500, 1000, 3000)) {
  emit(sprintf("large-lognormal-%d", k), rlnorm(k, log(100) + 0.02, 0.5),
       rlnorm(k + 137, log(100), 0.5), conf = 0.98)
  emit(sprintf("large-rounded-%d", k), round(rlnorm(k, log(50), 0.4)),
       round(rlnorm(k - 91, log(50) + 0.01, 0.4)), alternative = "greater")
}

writeLines(c(sprintf("# %d cases from gen.R with %s", ncase, R.version.string), lines),
           file.path(out, "cases.txt"))

# Normal quantiles for the AS 241 port, both tails.
ps <- c(1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 1e-3, 0.001, 0.005, 0.01, 0.02, 0.025,
        0.05, 0.075, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.925,
        0.95, 0.975, 0.98, 0.99, 0.995, 0.999, 1 - 1e-10)
writeLines(c(sprintf("# p qnorm(p) qnorm(p, lower.tail = FALSE), %s", R.version.string),
             sprintf("%s %s %s", sprintf("%.17g", ps), sprintf("%.17g", qnorm(ps)),
                     sprintf("%.17g", qnorm(ps, lower.tail = FALSE)))),
           file.path(out, "qnorm.txt"))
cat(ncase, "cases\n")
