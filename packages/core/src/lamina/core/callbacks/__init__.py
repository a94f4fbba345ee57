"""Training callbacks built on the Learner's two-way callback events (none of them changes the loop).

Each module holds one concept, e.g. `mixed_precision` (`MixedPrecision`, `learn.to_fp16/to_bf16/to_fp32`),
`gradients` (`GradientClip`, `GradientAccumulation`), `backward_loss` (how a callback changes the loss
the backward pass sees without changing the one that is recorded), `mixup` (`MixUp`, `CutMix`),
`trackers` (`TerminateOnNaN`, `EarlyStoppingCallback`, `SaveModelCallback`, `ReduceLROnPlateau`),
`logging` (`CSVLogger`, `ShowGraph`), `channels_last` (`ChannelsLast`), `tta` (`learn.tta`), `cast`
(`CastToTensor`), `compile` (`learn.compile`), `throughput` (`Throughput`) and `activation_stats`
(`ActivationStats`). Import the public names from `lamina.core.all`. `docs/callbacks.md` lists every
callback with its order and events.
"""
