"""Non-spiking sanity anchor: BP, DFA and FDFA on a 784-800-10 ReLU MLP (thesis 004, ch. 4,
Table 14 "2 layers": MNIST BP 98.25, DFA 98.04, FDFA 98.21; Fashion 89.37 / 88.67 / 89.27).

FDFA (eq. 105-112): perturb each hidden activation with ``u ~ N(0, 1)``, take the forward-mode
directional derivative of the outputs ``d = (d y / d h) u`` and move the feedback towards
``d u^T`` (``B <- B - alpha (B - mean_b d u^T)``); the hidden gradient is DFA's,
``g(W1) = ((e B) * relu'(a1)) x^T`` with ``e = softmax(y) - onehot`` and ``B`` (O, N). With one
hidden layer and linear outputs ``d y / d h = W2``, so ``E[B] = W2`` and FDFA tends to BP
(eq. 111). DFA uses a fixed random ``B``. The directional derivative is computed with
``torch.func.jvp`` through the output layer, as the thesis did with forward-mode AD.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MLP", "FeedbackState", "fdfa_feedback_step", "train_mlp", "METHODS"]

METHODS = ("bp", "dfa", "fdfa")


class MLP(torch.nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        bound1, bound2 = 1 / math.sqrt(n_in), 1 / math.sqrt(n_hidden)   # uniform Kaiming (torch default)
        self.w1 = torch.nn.Parameter(torch.empty(n_hidden, n_in).uniform_(-bound1, bound1))
        self.b1 = torch.nn.Parameter(torch.empty(n_hidden).uniform_(-bound1, bound1))
        self.w2 = torch.nn.Parameter(torch.empty(n_out, n_hidden).uniform_(-bound2, bound2))
        self.b2 = torch.nn.Parameter(torch.empty(n_out).uniform_(-bound2, bound2))

    def hidden(self, x):
        a1 = x @ self.w1.T + self.b1
        return a1, F.relu(a1)

    def head(self, h):
        return h @ self.w2.T + self.b2

    def forward(self, x):
        return self.head(self.hidden(x)[1])


class FeedbackState:
    def __init__(self, model: MLP, *, alpha=1e-2, init="zero"):
        n_out, n_hidden = model.w2.shape
        if init == "zero":   # FDFA: feedback starts at 0 (thesis 4.8.4)
            self.B = torch.zeros(n_out, n_hidden)
        else:                # DFA: fixed, uniform Kaiming
            bound = 1 / math.sqrt(n_hidden)
            self.B = torch.empty(n_out, n_hidden).uniform_(-bound, bound)
        self.alpha = alpha


def fdfa_feedback_step(model: MLP, state: FeedbackState, x):
    with torch.no_grad():
        _, h = model.hidden(x)
        u = torch.randn_like(h)
        with warnings.catch_warnings():  # torch's forward AD loads jit-scripted decompositions
            warnings.simplefilter("ignore", DeprecationWarning)
            _, d = torch.func.jvp(model.head, (h,), (u,))
        state.B -= state.alpha * (state.B - torch.einsum("bo,bi->oi", d, u) / len(x))


def _grads(method, model: MLP, state, x, labels):
    if method == "bp":
        loss = F.cross_entropy(model(x), labels)
        return torch.autograd.grad(loss, [model.w1, model.b1, model.w2, model.b2])
    with torch.no_grad():
        a1, h = model.hidden(x)
        y = model.head(h)
        e = (torch.softmax(y, 1) - F.one_hot(labels, y.shape[1]).to(y.dtype)) / len(x)
        delta = (e @ state.B) * (a1 > 0).to(y.dtype)
        return delta.T @ x, delta.sum(0), e.T @ h, e.sum(0)


def train_mlp(method, data, *, seed=0, epochs=3, hidden=800, batch=100, lr=1e-3, alpha=1e-2,
              limit=None, log=print) -> dict:
    torch.manual_seed(seed)
    x_tr = torch.tensor(np.array(data.x_train[:limit], dtype=np.float32) / 255.0)
    y_tr = torch.tensor(np.array(data.y_train[:limit], dtype=np.int64))
    x_te = torch.tensor(np.array(data.x_test, dtype=np.float32) / 255.0)
    y_te = np.asarray(data.y_test)
    model = MLP(x_tr.shape[1], hidden, data.n_classes)
    state = FeedbackState(model, alpha=alpha, init="zero" if method == "fdfa" else "random")
    params = [model.w1, model.b1, model.w2, model.b2]
    opt = torch.optim.Adam(params, lr=lr)
    history, t_train = [], 0.0
    for epoch in range(1, epochs + 1):
        order = torch.tensor(np.random.default_rng([seed, 1, epoch]).permutation(len(y_tr)))
        t0 = time.perf_counter()
        for s in range(0, len(y_tr), batch):
            idx = order[s:s + batch]
            if method == "fdfa":
                fdfa_feedback_step(model, state, x_tr[idx])
            grads = _grads(method, model, state, x_tr[idx], y_tr[idx])
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
        t_train += time.perf_counter() - t0
        with torch.no_grad():
            acc = float((model(x_te).argmax(1).numpy() == y_te).mean())
        history.append({"epoch": epoch, "test_accuracy": acc})
        log(f"  mlp {method} seed {seed} epoch {epoch}: test {acc:.4f}")
    return {"method": method, "seed": seed, "history": history, "test_accuracy": history[-1]["test_accuracy"],
            "train_seconds": t_train}
