"""The Learner and its two-way callbacks: training loop, Recorder, progress, schedules, lr finder.

Import the public names from `lamina.core.all`, or from the modules here: `events` (event names),
`callback` (`Callback`, the cancel exceptions, `TrainEvalCallback`), `ordering`, `params`
(splitters and parameter helpers), `learner` (`Learner`), `recorder`, `progress`, `scheduler`
(`ParamScheduler` and the fit policies), `lr_finder`, `preds`, `synth` (a tiny synthetic task for
trying callbacks), `annealing` and `suggest`.
"""
