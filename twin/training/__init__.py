"""Build code of the model zoo: world data, training, ONNX export, int8 quantisation.

``python -m twin.training NAME|all [--out DIR]`` rebuilds the shipped models of ``twin/zoo``
(see :mod:`twin.training.cli`). Nothing in the simulator imports this package: it needs the
``train`` extra (scikit-learn, skl2onnx) and, for the CNN models, torch; running scenarios
needs only onnxruntime and the ``.onnx``/``.json`` files it writes.
"""
