"""lamina.vision's model architectures.

`resnet` (ResNet-18 ... 152 and their ResNeXt/wide variants, with torchvision's state-dict layout),
`xresnet` (fastai's "bag of tricks" XResNet family: 1/2/3-d, squeeze-excitation, grouped,
depth-wise, self-attention), `unet` (`DynamicUnet` on any sequential encoder), `weights` (the
pretrained weight files, their local cache and checked loading) and `sequential` (the recorded
`nn.Sequential` base these models share). Import names from their modules or from `lamina.vision.all`.
"""
