"""The finetune assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_finetune_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case

TORCHVISION = "test_torchvision_resnet18"
ORDER = "test_finetune_shuffles_anew_every_epoch"
ACCURACY = ("test_ft_model_accuracy", "test_ft_model_beats_training_from_scratch")
FINETUNE_TESTS = ("test_finetune_keeps_backbone", "test_finetune_keeps_batchnorm_statistics",
                  "test_finetune_trains_head", "test_finetune_seeded", ORDER, "test_finetune_small")
FT_MODEL_TESTS = ("test_ft_model_backbone_unchanged", "test_ft_model_batchnorm_statistics_unchanged",
                  "test_ft_model_head", *ACCURACY)

FREEZE = "    for p in model.parameters():\n        p.requires_grad = False\n"
NEW_HEAD = "    model.fc = nn.Linear(model.fc.in_features, num_classes)\n"
BN_EVAL = (
    "        for m in model.modules():\n"
    "            if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):\n"
    "                m.eval()\n"
)
TRAINABLE = "    params = [p for p in model.parameters() if p.requires_grad]\n"
SHUFFLE = "        for idx in torch.randperm(len(X), generator=generator).split(batch_size):\n"
FT_MODEL = "ft_model = prepare_for_finetuning(load_pretrained_resnet(), num_classes=5)\n"
# A stand-in for torchvision.models.resnet18: torchvision's layout, 3 input channels, 512 features.
FAKE_TORCHVISION = (
    "ANSWER_WEIGHTS_ONLY = \"b\"  # SOLUTION",
    "ANSWER_WEIGHTS_ONLY = \"b\"  # SOLUTION\n\n"
    "import sys, types\n"
    "_tv, _models = types.ModuleType('torchvision'), types.ModuleType('torchvision.models')\n"
    "_models.resnet18 = lambda weights=None: CompactResNet(num_classes=1000, in_channels=3, "
    "widths=(16, 32, 64, 512))\n"
    "_tv.models = _models\n"
    "sys.modules.update({'torchvision': _tv, 'torchvision.models': _models})",
)

BUGS = [
    Case(
        "prepare_does_not_freeze",
        ((FREEZE, ""),),
        {
            "test_prepare_freezes_backbone": "conv1.weight: requires_grad is True after prepare_for_finetuning",
            "test_finetune_keeps_backbone": "changed during finetune",
            "test_ft_model_backbone_unchanged": "differs from the checkpoint: the backbone must stay frozen",
            "test_prepare_small": "trainable parameters after prepare_for_finetuning",
        },
        # a trainable BatchNorm layer is (rightly) put in train() mode: its statistics move too
        frozenset({"test_finetune_keeps_batchnorm_statistics", "test_ft_model_batchnorm_statistics_unchanged",
                   *ACCURACY}),
        diagnoses=frozenset({"prepare_does_not_freeze"}),
    ),
    Case(
        "prepare_freezes_the_new_head_too",
        ((FREEZE + NEW_HEAD, NEW_HEAD + FREEZE),),
        {
            "test_prepare_head_is_new_and_trainable": "fc.weight: requires_grad is False; the new head must be trainable",
            "test_prepare_small": "trainable parameters after prepare_for_finetuning: []",
        },
        # nothing left to train: SGD refuses an empty parameter list, and ft_model is never made
        frozenset({*FINETUNE_TESTS, *FT_MODEL_TESTS}),
        diagnoses=frozenset({"prepare_freezes_new_head"}),
    ),
    Case(
        "prepare_keeps_the_pretrained_head",  # "it has 5 outputs already": unfreezes the 0-4 head
        ((NEW_HEAD, "    model.fc.requires_grad_(True)\n"),),
        {
            "test_prepare_head_shape": "fc.weight has shape (5, 128), expected (3, 128)",
            "test_prepare_head_is_new_and_trainable": "fc.weight is still the pretrained head",
            "test_prepare_small": "new fc: 128 -> 5, expected 128 -> 3",
            "test_finetune_small": "expected shape (4, 2), got shape (4, 5)",
        },
        frozenset({"test_ft_model_accuracy"}),  # a head that starts from the 0-4 weights may learn slower
        diagnoses=frozenset({"prepare_keeps_pretrained_head"}),
    ),
    Case(
        "prepare_head_size_hard_coded",
        ((NEW_HEAD, "    model.fc = nn.Linear(model.fc.in_features, 5)\n"),),
        {
            "test_prepare_head_shape": "prepare_for_finetuning(model, 3): fc.weight has shape (5, 128)",
            "test_prepare_small": "new fc: 128 -> 5, expected 128 -> 3",
            "test_finetune_small": "expected shape (4, 2)",
        },
        diagnoses=frozenset({"prepare_head_size_hard_coded"}),
    ),
    Case(
        "prepare_in_features_hard_coded",  # right for CompactResNet, wrong for resnet18
        ((NEW_HEAD, "    model.fc = nn.Linear(128, num_classes)\n"), FAKE_TORCHVISION),
        {TORCHVISION: "fc.weight has shape (4, 128), expected (4, 512); read in_features from model.fc"},
    ),
    Case(
        "finetune_batchnorm_in_train_mode",  # frozen BN layers left in train(): statistics drift
        ((BN_EVAL, ""),),
        {
            "test_finetune_keeps_batchnorm_statistics": "keep frozen BatchNorm layers in eval() mode",
            "test_ft_model_batchnorm_statistics_unchanged": "frozen BatchNorm layers must stay in eval() mode",
        },
        frozenset(ACCURACY),
        diagnoses=frozenset({"finetune_batchnorm_in_train_mode"}),
    ),
    Case(
        "finetune_batchnorm_in_train_mode_on_resnet18",
        ((BN_EVAL, ""), FAKE_TORCHVISION),
        {
            TORCHVISION: "running_mean changed during finetune: keep frozen BatchNorm layers in eval() mode",
            "test_finetune_keeps_batchnorm_statistics": "keep frozen BatchNorm layers in eval() mode",
            "test_ft_model_batchnorm_statistics_unchanged": "frozen BatchNorm layers must stay in eval() mode",
        },
        frozenset(ACCURACY),
        diagnoses=frozenset({"finetune_batchnorm_in_train_mode"}),
    ),
    Case(
        "finetune_trains_the_backbone",  # "unfreeze so that gradients flow"
        ((TRAINABLE, "    params = list(model.parameters())\n    for p in params:\n        p.requires_grad = True\n"),),
        {
            "test_finetune_keeps_backbone": "changed during finetune",
            "test_ft_model_backbone_unchanged": "differs from the checkpoint: the backbone must stay frozen",
        },
        frozenset({"test_finetune_keeps_batchnorm_statistics", "test_ft_model_batchnorm_statistics_unchanged",
                   *ACCURACY}),
        diagnoses=frozenset({"finetune_trains_backbone"}),
    ),
    Case(
        "finetune_unseeded_shuffle",
        ((SHUFFLE, "        for idx in torch.randperm(len(X)).split(batch_size):\n"),),
        {"test_finetune_seeded": "differs between two runs from the same model"},
        diagnoses=frozenset({"finetune_unseeded_shuffle"}),
    ),
    Case(
        "new_generator_every_epoch",  # every epoch repeats the first epoch's order
        (("    generator = torch.Generator().manual_seed(seed)\n    for epoch in range(epochs):\n",
          "    for epoch in range(epochs):\n        generator = torch.Generator().manual_seed(seed)\n"),),
        {ORDER: "create one torch.Generator().manual_seed(seed) before the epoch loop"},
        diagnoses=frozenset({"finetune_same_order_every_epoch"}),
    ),
    Case(
        "finetune_without_optimizer_step",
        (("            optimizer.step()\n", ""),),
        {
            "test_finetune_trains_head": "fc.weight did not change during finetune",
            "test_ft_model_accuracy": "ft_model accuracy on held-out digits 5-9",
            "test_ft_model_beats_training_from_scratch": "the same network trained from scratch",
        },
        frozenset({"test_finetune_seeded", ORDER}),  # an untrained head is the same for every seed
        diagnoses=frozenset({"finetune_without_optimizer_step"}),
    ),
    Case(
        "ft_model_without_pretrained_weights",  # the architecture, but random frozen weights
        ((FT_MODEL, "ft_model = prepare_for_finetuning(CompactResNet(num_classes=5), num_classes=5)\n"),),
        {
            "test_ft_model_backbone_unchanged": "differs from the checkpoint",
            "test_ft_model_batchnorm_statistics_unchanged": "differs from the checkpoint",
            "test_ft_model_accuracy": "ft_model accuracy on held-out digits 5-9",
            "test_ft_model_beats_training_from_scratch": "not above",
        },
    ),
    Case(
        "answer_frozen_bn_wrong",
        (('ANSWER_FROZEN_BN = "c"  # SOLUTION', 'ANSWER_FROZEN_BN = "a"'),),
        {"test_answer_frozen_bn": "ANSWER_FROZEN_BN = 'a' is not correct"},
    ),
    Case(
        "answer_trainable_params_without_bias",
        (("ANSWER_TRAINABLE_PARAMS = 128 * 5 + 5  # SOLUTION", "ANSWER_TRAINABLE_PARAMS = 640"),),
        {"test_answer_trainable_params": "ANSWER_TRAINABLE_PARAMS = 640 is not correct"},
        diagnoses=frozenset({"trainable_params_without_bias"}),
    ),
]

ALTERNATIVES = [
    Case("with_torchvision_present", (FAKE_TORCHVISION,)),
    Case(
        "prepare_with_requires_grad_",
        (
            (
                "BLOCK:prepare_for_finetuning",
                """
                model.requires_grad_(False)
                in_features = model.fc.in_features
                model.fc = nn.Linear(in_features, num_classes)
                """,
            ),
        ),
    ),
    Case(
        "finetune_whole_model_in_eval_mode",  # every BN is frozen and the head has no dropout
        ((BN_EVAL, ""), ("        model.train()\n", "        model.eval()\n"), FAKE_TORCHVISION),
    ),
    Case(
        "finetune_with_a_dataloader",
        (
            (
                "BLOCK:finetune",
                """
                dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.asarray(X, dtype=np.float32)),
                                                         torch.from_numpy(np.asarray(y, dtype=np.int64)))
                loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                                     generator=torch.Generator().manual_seed(seed))
                optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()),
                                            lr=lr, momentum=0.9)
                for epoch in range(epochs):
                    model.train()
                    for m in model.modules():
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
                                p.requires_grad for p in m.parameters()):
                            m.eval()
                    for xb, yb in loader:
                        optimizer.zero_grad()
                        F.cross_entropy(model(xb), yb).backward()
                        optimizer.step()
                model.eval()
                """,
            ),
        ),
    ),
    Case(
        "answers_with_capitals",
        (
            ('ANSWER_WHY_FREEZE = "b"  # SOLUTION', 'ANSWER_WHY_FREEZE = "B"'),
            ("ANSWER_TRAINABLE_PARAMS = 128 * 5 + 5  # SOLUTION", "ANSWER_TRAINABLE_PARAMS = 645.0"),
        ),
    ),
]
