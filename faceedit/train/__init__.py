"""Training scripts: each is one function with documented keyword options plus a thin ``main``.

``python -m faceedit.train.boundary`` trains an InterfaceGAN boundary from generator samples.
Inference code never imports from here.
"""
