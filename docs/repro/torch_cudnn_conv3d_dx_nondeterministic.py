"""Standalone reproduction: torch's CUDA conv3d input gradient is not bitwise
reproducible by default (cuDNN picks a nondeterministic backward-data
algorithm); with torch.use_deterministic_algorithms(True) it is.

Shapes of convgrad case conformance/conv3d/k3x2x4-s1x1x1-VALID-NCDHW.
Run on a machine with a CUDA GPU:  python3 torch_cudnn_conv3d_dx_nondeterministic.py
"""
import torch

torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
w = torch.randn(3, 2, 3, 2, 4, device="cuda")
dy = torch.randn(2, 3, 3, 5, 4, device="cuda")   # VALID output of a 2x2x5x6x7 input


def distinct_results(runs=20):
    results = [torch.nn.grad.conv3d_input((2, 2, 5, 6, 7), w, dy) for _ in range(runs)]
    kinds = []
    for r in results:
        if not any(torch.equal(r, k) for k in kinds):
            kinds.append(r)
    spread = max((r - results[0]).abs().max().item() for r in results)
    return len(kinds), spread


print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version(),
      torch.cuda.get_device_name())
print("default:       distinct results in 20 runs = %d, max spread = %.3g" % distinct_results())
torch.use_deterministic_algorithms(True)
print("deterministic: distinct results in 20 runs = %d, max spread = %.3g" % distinct_results())
