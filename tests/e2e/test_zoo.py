"""The chain models of models/export_zoo.py (ConvTranspose decoders and a
DCGAN, InstanceNorm, LayerNorm MLPs, depthwise, grouped and 3-D
convolutions, permutes around Linear layers...), exported with the
installed PyTorch and compared with it at batch 1 and 2: whole models,
where one layer's plan depends on its neighbours' layouts."""

import os
import unittest

import numpy as np

import e2e_common as e2e
import export_zoo


class ZooTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = e2e.scratch_dir("ZooTest")

    def setUp(self):
        e2e.require_seqrt(self)

    def check_model(self, name):
        path = export_zoo.export(name, self.work)
        x = np.load(os.path.join(self.work, name + "_x.npy"))
        expected = np.load(os.path.join(self.work, name + "_y.npy"))
        for batch in (1, export_zoo.BATCH):
            proc, output = e2e.run_model(path, x[:batch], self.work, tag=name)
            self.assertEqual(proc.returncode, 0, e2e.describe(proc))
            problem = e2e.compare(output, expected[:batch], rtol=1e-3)
            self.assertIsNone(problem, "%s at batch %d: %s" % (name, batch, problem))


def add_tests():
    for name in export_zoo.MODELS:
        setattr(ZooTest, "test_" + name, lambda self, name=name: self.check_model(name))


add_tests()

if __name__ == "__main__":
    e2e.main()
