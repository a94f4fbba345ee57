"""Optimizers built from stats and steppers (paper section 4.5), plus wrappers for `torch.optim`.

Import the public names from `lamina.core.all` or from the modules here: `optimizer` (the generic
`Optimizer`), `stats` and `steppers` (its building blocks), `optimizers` (the factories `SGD`, `Adam`,
...), `lookahead` (`Lookahead`, `ranger`) and `wrapper` (`OptimWrapper`).
"""
