#!/usr/bin/env python3
"""torch_heads.py: the Geograph head's reference training recipe in PyTorch, timed, for
bench_heads.sh. Same model (Embedding(24,16) + Linear(528,256) + ReLU + Dropout(0.2) +
Linear(256,7)), Adam lr 1e-3, BCEWithLogits(reduction='none').mean(1) * weight, mean, batch 1024.

--mode tensors: rows decoded once into tensors, batches by index (PyTorch's best case).
--mode reference: the project's notebook pipeline (Dataset decoding base64 per item, DataLoader).
Prints one line: "torch mode=M threads=T train_rows=N samples_per_s=X" (median over epochs 2..)."""
import argparse, base64, json, statistics, time
import numpy as np
import torch
import torch.nn as nn

CLASSES = ["Aerial", "Close Look", "Cross Far", "Extra", "Geograph", "Inside", "From Drone"]
DIST_MAP = {str(2 ** i): i + 1 for i in range(21)}
DIST_MAP.update({"0": 0, "Unknown": 22, "": 0})


def dist_idx(v):
    return DIST_MAP.get(str(v).strip(), 22)


def targets(item):
    out = [0.0] * 7
    raw = item["types"].split(",")
    for t in raw:
        t = t.strip()
        if t == "Cross Grid":
            if str(item["distance"]).isdigit() and int(item["distance"]) > 256:
                t = "Cross Far"
            elif len(raw) == 1:
                t = "Geograph"
            else:
                continue
        if t == "From Above":
            t = "From Drone"
        if t in CLASSES:
            out[CLASSES.index(t)] = 1.0
    return out


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.dist_emb = nn.Embedding(24, 16)
        self.fc = nn.Sequential(nn.Linear(528, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 7))

    def forward(self, x, d):
        return self.fc(torch.cat([x, self.dist_emb(d)], dim=1))


class RefDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        it = self.rows[i]
        vec = torch.tensor(np.frombuffer(base64.b64decode(it["embeddings"]), dtype=np.float32), dtype=torch.float32)
        return (vec, torch.tensor(dist_idx(it["distance"]), dtype=torch.long),
                torch.tensor(targets(it)), torch.tensor(it.get("weight", 1.0), dtype=torch.float32))


def step(model, opt, crit, x, d, y, w):
    opt.zero_grad()
    loss = (crit(model(x, d), y).mean(dim=1) * w).mean()
    loss.backward()
    opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--mode", choices=["tensors", "reference"], default="tensors")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = [r for r in (json.loads(l) for l in open(a.data)) if r.get("split") == "tra"]
    model, crit = Head(), nn.BCEWithLogitsLoss(reduction="none")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    if a.mode == "tensors":
        X = torch.from_numpy(np.stack([np.frombuffer(base64.b64decode(r["embeddings"]), np.float32) for r in rows]))
        D = torch.tensor([dist_idx(r["distance"]) for r in rows])
        Y = torch.tensor([targets(r) for r in rows])
        W = torch.tensor([float(r.get("weight", 1.0)) for r in rows])
        for _ in range(a.epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(len(rows))
            for i in range(0, len(rows), 1024):
                idx = perm[i:i + 1024]
                step(model, opt, crit, X[idx], D[idx], Y[idx], W[idx])
            times.append(time.perf_counter() - t0)
    else:
        loader = torch.utils.data.DataLoader(RefDataset(rows), batch_size=1024, shuffle=True)
        for _ in range(a.epochs):
            t0 = time.perf_counter()
            for x, d, y, w in loader:
                step(model, opt, crit, x, d, y, w)
            times.append(time.perf_counter() - t0)
    t = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print("torch mode=%s threads=%d train_rows=%d samples_per_s=%.0f" % (a.mode, a.threads, len(rows), len(rows) / t))


if __name__ == "__main__":
    main()
