"""PyTorch peer of bench/backend.ts: the same reference GAN step (D step + G step, Adam, BCE),
doing the same work as ganflow's (train/gan_step.ts): D's step runs G forward only (no graph
into G), and G's step takes gradients of G's weights only (D's are frozen for it).

Run: /usr/bin/python3 bench/torch_ref/backend_step.py --steps 10 --threads 2 --size 64
Prints one JSON line: {"ms_per_step": mean, "median_ms": ..., "steps_ms": [...],
"cpu_ms_per_step": process CPU time (all threads), "g_params": ..., "d_params": ...}.
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=10)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--size", type=int, default=64)
p.add_argument("--batch", type=int, default=32)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
Z = 128
blocks = {32: [128, 64, 32], 64: [128, 64, 32, 16]}[a.size]

class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(Z, 4 * 4 * 256)
        chans = [256] + blocks
        self.convs = nn.ModuleList([nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(len(blocks))])
        self.out = nn.Conv2d(chans[-1], 3, 3, padding=1)
    def forward(self, z):
        h = self.fc(z).view(-1, 256, 4, 4)
        for c in self.convs:
            h = F.leaky_relu(c(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        return torch.tanh(self.out(h))

class D(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(i, o, 3, stride=2, padding=1) for i, o in [(3, 32), (32, 64), (64, 128), (128, 256)]])
        self.fc = nn.Linear(256 * (a.size // 16) ** 2, 1)
    def forward(self, x):
        for c in self.convs:
            x = F.leaky_relu(c(x), 0.2)
        return self.fc(x.flatten(1))

g, d = G(), D()
og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
real = torch.randn(a.batch, 3, a.size, a.size)
bce = nn.BCEWithLogitsLoss()
ones, zeros = torch.ones(a.batch, 1), torch.zeros(a.batch, 1)

def step():
    z = torch.randn(a.batch, Z)
    od.zero_grad()
    with torch.no_grad():
        fake = g(z)
    ld = bce(d(real), ones) + bce(d(fake), zeros)
    ld.backward(); od.step()
    og.zero_grad()
    d.requires_grad_(False)  # backward flows through D to G's weights, but not into D's
    lg = bce(d(g(torch.randn(a.batch, Z))), ones)
    lg.backward(); og.step()
    d.requires_grad_(True)

for _ in range(2):
    step()
times = []
cpu0 = time.process_time()
for _ in range(a.steps):
    t = time.perf_counter()
    step()
    times.append((time.perf_counter() - t) * 1000)
cpu_ms = (time.process_time() - cpu0) * 1000 / a.steps
print(json.dumps({"ms_per_step": sum(times) / len(times), "median_ms": sorted(times)[len(times) // 2],
                  "steps_ms": times, "cpu_ms_per_step": cpu_ms,
                  "g_params": sum(p.numel() for p in g.parameters()),
                  "d_params": sum(p.numel() for p in d.parameters())}))
