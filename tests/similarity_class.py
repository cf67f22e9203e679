"""Backprop notebooks written by independent "authors", and planted copies, for similarity tests.

Each author fills the starter's `# YOUR CODE HERE` blocks in order (affine forward/backward,
relu, sigmoid, tanh forward/backward, softmax loss, TwoLayerNet init, forward, backward,
training) in their own style; the one-line answers are the same for everyone, as they would be.
Author "ref" is the reference solution itself.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTER = ROOT / "assignments" / "backprop" / "starter.ipynb"
SOLUTION = ROOT / "assignments" / "backprop" / "solution.ipynb"
_BLOCK = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\n?", re.MULTILINE)

ANSWERS = {"ANSWER_RELU_GRAD_AT_ZERO": "0.0", "ANSWER_SIGMOID_MAX_GRAD": "0.25",
           "ANSWER_SIGMOID_10_LAYER_BOUND": "0.25 ** 10", "ANSWER_DEAD_RELU": '"b"',
           "ANSWER_SOFTMAX_SHIFT": '"c"'}

AUTHORS: dict[str, list[str]] = {
    "loops": [
        # affine forward
        """N = x.shape[0]
rows = []
for i in range(N):
    rows.append(np.dot(x[i].ravel(), w) + b)
out = np.array(rows)
cache = (x, w, b)""",
        # affine backward
        """x, w, b = cache
N = x.shape[0]
flat = np.reshape(x, (N, -1))
dw = np.zeros_like(w)
for i in range(N):
    dw += np.outer(flat[i], dout[i])
db = np.zeros_like(b)
for i in range(N):
    db += dout[i]
dx = np.dot(dout, w.T)
dx = np.reshape(dx, x.shape)""",
        "out = x.copy()\nout[out < 0] = 0\ncache = x",
        "dx = dout.copy()\ndx[cache <= 0] = 0",
        """out = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
cache = out""",
        "dx = dout * cache * (1 - cache)",
        "e2 = np.exp(-2 * np.abs(x))\nout = np.sign(x) * (1 - e2) / (1 + e2)\ncache = out",
        "dx = dout - dout * cache * cache",
        """N, C = scores.shape
loss = 0.0
dscores = np.zeros_like(scores)
for i in range(N):
    row = scores[i] - np.max(scores[i])
    p = np.exp(row) / np.sum(np.exp(row))
    loss += -np.log(p[y[i]])
    p[y[i]] -= 1
    dscores[i] = p / N
loss = loss / N""",
        """gen = np.random.default_rng(seed)
self.params["W1"] = gen.normal(0.0, 1.0, size=(input_dim, hidden_dim)) * weight_scale
self.params["b1"] = np.zeros((hidden_dim,))
self.params["W2"] = gen.normal(0.0, 1.0, size=(hidden_dim, num_classes)) * weight_scale
self.params["b2"] = np.zeros((num_classes,))""",
        """z1, c_a = affine_forward(X, W1, b1)
r1, c_r = relu_forward(z1)
scores, c_b = affine_forward(r1, W2, b2)""",
        """loss, ds = softmax_loss(scores, y)
loss += 0.5 * self.reg * np.sum(W1 ** 2) + 0.5 * self.reg * np.sum(W2 ** 2)
dr1, dW2, db2 = affine_backward(ds, c_b)
dz1 = relu_backward(dr1, c_r)
dX, dW1, db1 = affine_backward(dz1, c_a)
grads = {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}""",
        """net = TwoLayerNet(64, 100, 10, weight_scale=0.05, reg=0.0005, seed=3)
g = np.random.default_rng(7)
n = X_train.shape[0]
step = 0.3
for ep in range(25):
    order = g.permutation(n)
    for j in range(0, n, 32):
        batch = order[j:j + 32]
        l, gr = net.loss(X_train[batch], y_train[batch])
        for name in ("W1", "b1", "W2", "b2"):
            net.params[name] = net.params[name] - step * gr[name]
    print(ep, l)
best_net = net""",
    ],
    "functional": [
        """out = x.reshape(len(x), -1).dot(w) + b[None, :]
cache = x, w, b""",
        """xx, ww, _ = cache
dx = dout.dot(ww.T).reshape(*xx.shape)
dw = xx.reshape(len(xx), -1).T.dot(dout)
db = np.sum(dout, axis=0)""",
        "cache = x\nout = x * (x > 0)",
        "dx = np.where(cache > 0, dout, 0.0)",
        """z = np.clip(x, -500, 500)
out = 1.0 / (1.0 + np.exp(-z))
cache = out""",
        "s = cache\ndx = s * (1 - s) * dout",
        "cache = np.tanh(x)\nout = cache",
        "dx = (1 - np.square(cache)) * dout",
        """z = scores - scores.max(1)[:, None]
logsum = np.log(np.sum(np.exp(z), 1))
m = len(y)
loss = float(np.mean(logsum - z[range(m), y]))
probs = np.exp(z - logsum[:, None])
onehot = np.eye(scores.shape[1])[y]
dscores = (probs - onehot) / m""",
        """r = np.random.default_rng(seed)
shapes = {"W1": (input_dim, hidden_dim), "W2": (hidden_dim, num_classes)}
for key, shp in shapes.items():
    self.params[key] = r.standard_normal(shp) * weight_scale
self.params["b1"], self.params["b2"] = np.zeros(hidden_dim), np.zeros(num_classes)""",
        """hid, ca1 = affine_forward(X, W1, b1)
act, crelu = relu_forward(hid)
scores, ca2 = affine_forward(act, W2, b2)""",
        """data, d = softmax_loss(scores, y)
l2 = sum(np.sum(W * W) for W in (W1, W2))
loss = data + self.reg * l2 / 2
dact, grads["W2"], grads["b2"] = affine_backward(d, ca2)
dhid = relu_backward(dact, crelu)
grads["W1"], grads["b1"] = affine_backward(dhid, ca1)[1:]
for key in ("W1", "W2"):
    grads[key] = grads[key] + self.reg * self.params[key]""",
        """def train(lr, hidden, epochs=30, bs=64):
    m = TwoLayerNet(X_train.shape[1], hidden, 10, weight_scale=0.1, reg=1e-4, seed=11)
    gen = np.random.default_rng(5)
    for _ in range(epochs):
        idx = gen.permutation(len(y_train))
        for k in range(len(idx) // bs + 1):
            sel = idx[k * bs:(k + 1) * bs]
            if len(sel) == 0:
                continue
            _, gr = m.loss(X_train[sel], y_train[sel])
            m.params = {p: v - lr * gr[p] for p, v in m.params.items()}
    return m

candidates = [train(lr, h) for lr in (0.2, 0.6) for h in (48, 96)]
best_net = max(candidates, key=lambda m: accuracy(m, X_val, y_val))""",
    ],
    "verbose": [
        """batch_size = x.shape[0]
input_size = int(np.prod(x.shape[1:]))
x_matrix = np.reshape(x, (batch_size, input_size))
out = np.matmul(x_matrix, w)
out = out + b
cache = (x, w, b)""",
        """x_original, weights, biases = cache
batch_size = x_original.shape[0]
x_matrix = np.reshape(x_original, (batch_size, -1))
dx_matrix = np.matmul(dout, np.transpose(weights))
dx = np.reshape(dx_matrix, x_original.shape)
dw = np.matmul(np.transpose(x_matrix), dout)
db = np.sum(dout, axis=0, keepdims=False)""",
        "positive = np.greater(x, 0)\nout = np.multiply(x, positive)\ncache = positive",
        "positive = cache\ndx = np.multiply(dout, positive)",
        """out = np.zeros(x.shape)
for index in np.ndindex(x.shape):
    value = x[index]
    if value >= 0:
        out[index] = 1.0 / (1.0 + np.exp(-value))
    else:
        exp_value = np.exp(value)
        out[index] = exp_value / (1.0 + exp_value)
cache = out""",
        "sig = cache\nlocal_gradient = np.multiply(sig, 1.0 - sig)\ndx = np.multiply(dout, local_gradient)",
        "tanh_value = np.tanh(x)\nout = tanh_value\ncache = tanh_value",
        "tanh_value = cache\nlocal_gradient = 1.0 - np.multiply(tanh_value, tanh_value)\ndx = np.multiply(dout, local_gradient)",
        """number_of_examples = scores.shape[0]
max_per_row = np.max(scores, axis=1, keepdims=True)
stable_scores = scores - max_per_row
exponentials = np.exp(stable_scores)
sum_per_row = np.sum(exponentials, axis=1, keepdims=True)
probabilities = exponentials / sum_per_row
correct_probabilities = probabilities[np.arange(number_of_examples), y]
loss = np.sum(-np.log(correct_probabilities)) / number_of_examples
dscores = probabilities.copy()
dscores[np.arange(number_of_examples), y] = dscores[np.arange(number_of_examples), y] - 1.0
dscores = dscores / number_of_examples""",
        """random_generator = np.random.default_rng(seed)
first_weights = random_generator.standard_normal(size=(input_dim, hidden_dim))
second_weights = random_generator.standard_normal(size=(hidden_dim, num_classes))
self.params["W1"] = np.multiply(weight_scale, first_weights)
self.params["b1"] = np.zeros(shape=(hidden_dim,))
self.params["W2"] = np.multiply(weight_scale, second_weights)
self.params["b2"] = np.zeros(shape=(num_classes,))""",
        """hidden_pre, first_cache = affine_forward(X, W1, b1)
hidden_post, activation_cache = relu_forward(hidden_pre)
scores, second_cache = affine_forward(hidden_post, W2, b2)""",
        """data_loss, dscores = softmax_loss(scores, y)
regularisation_loss = 0.5 * self.reg * np.sum(np.square(W1))
regularisation_loss = regularisation_loss + 0.5 * self.reg * np.sum(np.square(W2))
loss = data_loss + regularisation_loss
dhidden_post, dW2, db2 = affine_backward(dscores, second_cache)
dhidden_pre = relu_backward(dhidden_post, activation_cache)
unused_dx, dW1, db1 = affine_backward(dhidden_pre, first_cache)
grads["W1"] = dW1 + self.reg * W1
grads["b1"] = db1
grads["W2"] = dW2 + self.reg * W2
grads["b2"] = db2""",
        """network = TwoLayerNet(64, 80, 10, weight_scale=0.08, reg=0.001, seed=2024)
shuffler = np.random.default_rng(99)
learning_rate = 0.4
number_of_epochs = 20
minibatch_size = 40
for epoch_number in range(number_of_epochs):
    shuffled_indices = shuffler.permutation(X_train.shape[0])
    for first in range(0, X_train.shape[0], minibatch_size):
        chosen = shuffled_indices[first:first + minibatch_size]
        current_loss, current_grads = network.loss(X_train[chosen], y_train[chosen])
        for parameter_name in network.params:
            network.params[parameter_name] -= learning_rate * current_grads[parameter_name]
best_net = network""",
    ],
    "terse": [
        "out = x.reshape(x.shape[0], -1) @ w + b; cache = (x, w, b)",
        "x, w, b = cache; dw = x.reshape(x.shape[0], -1).T @ dout; db = dout.sum(0); dx = (dout @ w.T).reshape(x.shape)",
        "out = np.maximum(x, 0); cache = x",
        "dx = dout * (cache > 0)",
        "out = np.exp(-np.logaddexp(0, -x)); cache = out",
        "dx = dout * cache * (1 - cache)",
        "out = cache = np.tanh(x)",
        "dx = dout * (1 - cache ** 2)",
        """lse = np.logaddexp.reduce(scores, axis=1)
loss = np.mean(lse - scores[np.arange(len(y)), y])
dscores = np.exp(scores - lse[:, None]); dscores[np.arange(len(y)), y] -= 1; dscores /= len(y)""",
        """g = np.random.default_rng(seed)
self.params.update(W1=weight_scale * g.standard_normal((input_dim, hidden_dim)), b1=np.zeros(hidden_dim),
                   W2=weight_scale * g.standard_normal((hidden_dim, num_classes)), b2=np.zeros(num_classes))""",
        "h, c1 = affine_forward(X, W1, b1); r, cr = relu_forward(h); scores, c2 = affine_forward(r, W2, b2)",
        """loss, ds = softmax_loss(scores, y); loss += self.reg / 2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
dr, grads["W2"], grads["b2"] = affine_backward(ds, c2)
_, grads["W1"], grads["b1"] = affine_backward(relu_backward(dr, cr), c1)
grads["W1"] += self.reg * W1; grads["W2"] += self.reg * W2""",
        """best_net = TwoLayerNet(64, 128, 10, 0.05, 1e-3, seed=42); R = np.random.default_rng(0)
for e in range(15):
    P = R.permutation(len(X_train))
    for s in range(0, len(P), 100):
        _, G = best_net.loss(X_train[P[s:s + 100]], y_train[P[s:s + 100]])
        for k, v in G.items(): best_net.params[k] -= 0.7 * v""",
    ],
}


def _indent(body: str, indent: str) -> str:
    return "".join(indent + line + "\n" if line else "\n" for line in body.splitlines())


def author_notebook(author: str) -> dict:
    """The starter with `author`'s code in every block (author "ref": the reference solution)."""
    if author == "ref":
        return json.loads(SOLUTION.read_text(encoding="utf-8"))
    nb = json.loads(STARTER.read_text(encoding="utf-8"))
    bodies = iter(AUTHORS[author])
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        src = _BLOCK.sub(lambda m: _indent(next(bodies), m.group(1)), src)
        for name, value in ANSWERS.items():
            src = src.replace(f"{name} = None  # YOUR CODE HERE", f"{name} = {value}")
        cell["source"] = src
    return nb


def cells_of(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def renamed_copy(nb: dict) -> dict:
    """Every local name renamed (what a copier does first); comments and layout kept."""
    nb = copy.deepcopy(nb)
    table = {"rows": "acc_rows", "flat": "flat_x", "gen": "my_gen", "net": "model", "step": "lr_",
             "order": "perm_", "batch": "sel_", "z1": "pre1", "r1": "post1", "ds": "grad_scores",
             "dr1": "g_post", "dz1": "g_pre", "p": "prob", "row": "shifted_row", "e2": "exp2x",
             "dW1": "gW1", "dW2": "gW2", "db1": "gb1", "db2": "gb2", "c_a": "cacheA", "c_r": "cacheR",
             "c_b": "cacheB", "l": "cur_loss", "gr": "cur_grads", "ep": "epoch_i", "n": "count"}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, table)) + r")\b")
    for cell in cells_of(nb):
        src = "".join(cell["source"])
        cell["source"] = pattern.sub(lambda m: table[m.group(1)], src)
    return nb


def reordered_commented_copy(nb: dict) -> dict:
    """The function cells in another order, with comments added to every block."""
    nb = copy.deepcopy(nb)
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    # cells 1-8 define the layers: reverse their order; the rest stays.
    layer_cells = code[1:9]
    sources = ["".join(nb["cells"][i]["source"]) for i in layer_cells]
    for i, src in zip(layer_cells, reversed(sources)):
        lines = []
        for line in src.splitlines():
            lines.append(line)
            if line.strip() and not line.lstrip().startswith(("#", '"', "def ", "return")):
                lines.append(" " * (len(line) - len(line.lstrip())) + "# my own step, checked by hand")
        nb["cells"][i]["source"] = "\n".join(lines)
    return nb


def one_function_copy(nb: dict, donor: dict, cell: int = 9) -> dict:
    """`nb` with one code cell (default: softmax_loss) taken verbatim from `donor`."""
    nb = copy.deepcopy(nb)
    cells_of(nb)[cell]["source"] = "".join(cells_of(donor)[cell]["source"])
    return nb


def write(nb: dict, path: Path) -> Path:
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path
