"""Write `resnet_state_dict_reference.txt`: torchvision's ResNet state-dict listing, derived by hand.

This script does not import lamina (or torch): it spells out torchvision's ResNet layout as
documented in its `resnet.py` - a 7x7 stem conv (`conv1`) and norm (`bn1`), four stages
`layer1..layer4` of 64/128/256/512 planes with strides 1/2/2/2, blocks with `conv1/bn1/conv2/bn2`
(BasicBlock) or `conv1/bn1/conv2/bn2/conv3/bn3` (Bottleneck, expansion 4), a
`downsample.0` (1x1 conv) / `downsample.1` (norm) shortcut on the first block of a stage when the
stride or width changes, and `fc`. Each batch norm holds weight, bias, running_mean, running_var
and num_batches_tracked (a scalar), in that order. Run it to regenerate the file:
`python packages/vision/tests/make_resnet_reference.py`.
"""

from pathlib import Path

ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


def conv(name, nf, ni, k):
    return [(f"{name}.weight", (nf, ni, k, k))]


def bn(name, n):
    return [
        (f"{name}.weight", (n,)),
        (f"{name}.bias", (n,)),
        (f"{name}.running_mean", (n,)),
        (f"{name}.running_var", (n,)),
        (f"{name}.num_batches_tracked", ()),
    ]


def listing(kind, layers):
    expansion = 1 if kind == "basic" else 4
    rows = conv("conv1", 64, 3, 7) + bn("bn1", 64)
    inplanes = 64
    for stage, (planes, n_blocks) in enumerate(zip([64, 128, 256, 512], layers), start=1):
        stride = 1 if stage == 1 else 2
        out = planes * expansion
        for b in range(n_blocks):
            p = f"layer{stage}.{b}"
            ni = inplanes if b == 0 else out
            if kind == "basic":
                rows += conv(f"{p}.conv1", planes, ni, 3) + bn(f"{p}.bn1", planes)
                rows += conv(f"{p}.conv2", planes, planes, 3) + bn(f"{p}.bn2", planes)
            else:
                rows += conv(f"{p}.conv1", planes, ni, 1) + bn(f"{p}.bn1", planes)
                rows += conv(f"{p}.conv2", planes, planes, 3) + bn(f"{p}.bn2", planes)
                rows += conv(f"{p}.conv3", out, planes, 1) + bn(f"{p}.bn3", out)
            if b == 0 and (stride != 1 or inplanes != out):
                rows += conv(f"{p}.downsample.0", out, inplanes, 1) + bn(f"{p}.downsample.1", out)
        inplanes = out
    rows += [("fc.weight", (1000, 512 * expansion)), ("fc.bias", (1000,))]
    return rows


def main():
    lines = ["# torchvision ResNet state_dict: '## <arch>', then one '<key> <shape or scalar>' per line"]
    for arch, (kind, layers) in ARCHS.items():
        lines.append(f"## {arch}")
        lines += [f"{k} {','.join(map(str, s)) or 'scalar'}" for k, s in listing(kind, layers)]
    out = Path(__file__).with_name("resnet_state_dict_reference.txt")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
