// Every layer family against a naive reference: fused and observable plans,
// batch 1 and 5, every layer's output seen through the callback.
#include <memory>

#include "test_runtime_util.h"

using namespace sqtest;

namespace {

void check_chain(ChainMaker &maker) {
  std::unique_ptr<sq_chain, ChainDeleter> chain(maker.build());
  for (int64_t batch : {1, 5})
    for (bool observable : {false, true})
      check_plan(chain.get(), batch, observable,
                 make_input(chain.get(), batch, 1.0f), 1e-4);
}

} // namespace

TEST(RuntimeLinear, TwoD) {
  ChainMaker m({-1, 20});
  m.linear(7).linear(5, false).linear(64).linear(3);
  check_chain(m);
}

TEST(RuntimeLinear, ThreeDAndFourD) {
  // All rows as one product: 4 and 20, 6 and 30 rows (inner product), 8
  // and 40 (matmul).
  ChainMaker m({-1, 4, 12});
  m.linear(6).eltwise(SQ_RELU).linear(3, false);
  check_chain(m);
  ChainMaker m4({-1, 2, 3, 8});
  m4.linear(5).eltwise(SQ_TANH).linear(9);
  check_chain(m4);
  ChainMaker many({-1, 2, 4, 8});
  many.linear(5).eltwise(SQ_TANH).linear(9, false);
  check_chain(many);
}

TEST(RuntimeLinear, OneRowKernel) {
  // At batch 1 a Linear runs seqrt's kernel with the ReLUs after it (at
  // batch 5 oneDNN): widths around its 32-column iterations and 4-row
  // blocks, one input, no bias, two ReLUs, rank 3.
  ChainMaker m({-1, 37});
  m.linear(13).eltwise(SQ_RELU).eltwise(SQ_RELU).linear(1, false);
  m.linear(64).linear(7).eltwise(SQ_RELU).linear(16).linear(5);
  check_chain(m);
  ChainMaker m3({-1, 1, 40});
  m3.linear(9).eltwise(SQ_RELU).linear(3, false);
  check_chain(m3);
}

TEST(RuntimeConv, OneD) {
  ChainMaker m({-1, 3, 17});
  m.conv(8, {{3}, {2}, {1}, {1}, {2}}).eltwise(SQ_RELU);
  m.conv(16, {{5}, {1}, {2}, {2}, {2}});
  check_chain(m);
}

TEST(RuntimeConv, TwoDStridePadDilation) {
  ChainMaker m({-1, 3, 12, 11});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  m.conv(8, {{3, 2}, {2, 1}, {2, 1}, {0, 1}, {1, 0}});
  m.conv(32, {{1, 1}});
  check_chain(m);
}

TEST(RuntimeConv, ThreeD) {
  ChainMaker m({-1, 2, 6, 7, 5});
  m.conv(4, {{3, 3, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {0, 1, 1}});
  m.eltwise(SQ_ELU, 0.7f);
  m.conv(16, {{2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {}});
  check_chain(m);
}

TEST(RuntimeConv, GroupedDepthwiseNoBias) {
  ChainMaker m({-1, 8, 9, 9});
  m.conv(12, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}, 4);
  m.conv(12, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {}}, 12, false); // depthwise
  m.conv(24, {{3, 3}, {1, 1}, {1, 1}, {0, 0}, {}}, 12);        // multiplier 2
  m.conv(16, {{1, 1}}, 1, false);
  check_chain(m);
}

TEST(RuntimeConv, FewChannelKernel) {
  // Up to 4 channels in and 8 out, stride 1: seqrt's own kernel (with the
  // ReLUs and a 2x2 stride-2 MaxPool after it in fused plans): LeNet-5's
  // first block; pads on every side, odd widths over several 16-column
  // chunks, two ReLUs, 1x1 and rectangular kernels; 1-D.
  ChainMaker lenet({-1, 1, 32, 32});
  lenet.conv(6, {{5, 5}}).eltwise(SQ_RELU).pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  lenet.conv(16, {{5, 5}}).eltwise(SQ_RELU).pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  lenet.flatten().linear(10);
  check_chain(lenet);
  ChainMaker padded({-1, 3, 9, 37});
  padded.conv(8, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}})
      .eltwise(SQ_RELU)
      .eltwise(SQ_RELU)
      .pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  padded.conv(4, {{3, 5}, {1, 1}, {1, 1}, {2, 0}, {0, 3}}, 1, false);
  padded.conv(3, {{1, 1}}).conv(2, {{2, 3}, {1, 1}, {1, 1}, {0, 1}, {1, 2}});
  padded.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  check_chain(padded);
  ChainMaker wide({-1, 1, 3, 70});
  wide.conv(7, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}})
      .pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  check_chain(wide);
  ChainMaker one_d({-1, 2, 50});
  one_d.conv(5, {{7}, {1}, {1}, {3}, {2}}).eltwise(SQ_RELU);
  one_d.conv(8, {{1}}).pool(SQ_MAXPOOL, {{2}, {2}});
  check_chain(one_d);
}

TEST(RuntimePool, MaxAndAvgTwoD) {
  ChainMaker m({-1, 3, 13, 12});
  m.pool(SQ_MAXPOOL, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {}});
  m.pool(SQ_AVGPOOL, {{3, 2}, {1, 2}, {1, 1}, {1, 0}, {1, 1}}, true);
  m.pool(SQ_AVGPOOL, {{2, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 1}}, false);
  m.pool(SQ_MAXPOOL, {{2, 2}, {1, 1}, {2, 2}, {0, 1}, {1, 0}}); // dilated
  check_chain(m);
}

TEST(RuntimePool, AfterConvOneDAndThreeD) {
  ChainMaker m({-1, 4, 15});
  m.conv(16, {{3}, {1}, {1}, {1}, {}})
      .pool(SQ_MAXPOOL, {{2}, {2}, {1}, {0}, {1}});
  m.pool(SQ_AVGPOOL, {{3}, {2}, {1}, {1}, {}}, false);
  check_chain(m);
  ChainMaker m3({-1, 2, 5, 6, 7});
  m3.conv(16, {{1, 1, 1}})
      .pool(SQ_AVGPOOL, {{2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {1, 0, 1}, {}}, true);
  m3.pool(SQ_MAXPOOL, {{2, 3, 2}, {1, 1, 1}, {1, 1, 1}, {0, 1, 0}, {}});
  check_chain(m3);
}

TEST(RuntimeNorm, BatchNormRanks) {
  ChainMaker m2({-1, 10});
  m2.batchnorm().linear(4).batchnorm(true, false);
  check_chain(m2);
  ChainMaker m3({-1, 6, 7});
  m3.batchnorm(false, true);
  check_chain(m3);
  ChainMaker m4({-1, 3, 8, 8});
  m4.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}})
      .batchnorm()
      .eltwise(SQ_RELU);
  check_chain(m4);
  ChainMaker m5({-1, 4, 3, 4, 5});
  m5.batchnorm();
  check_chain(m5);
}

TEST(RuntimeEltwise, EveryKindStandalone) {
  ChainMaker m({-1, 13});
  m.eltwise(SQ_RELU).eltwise(SQ_LEAKYRELU, 0.1f);
  m.linear(13).eltwise(SQ_SIGMOID);
  check_chain(m);
  ChainMaker m2({-1, 2, 3, 5});
  m2.eltwise(SQ_TANH).eltwise(SQ_ELU, 1.3f).eltwise(SQ_LEAKYRELU, 0.01f);
  check_chain(m2);
}

TEST(RuntimeEltwise, FusedAfterConvAndLinear) {
  ChainMaker m({-1, 3, 9, 9});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_LEAKYRELU, 0.2f);
  m.conv(16, {{3, 3}}).eltwise(SQ_ELU, 0.5f).eltwise(SQ_TANH);
  m.conv(8, {{1, 1}}).eltwise(SQ_SIGMOID);
  m.flatten().linear(10).eltwise(SQ_RELU).eltwise(SQ_LEAKYRELU, 0.3f);
  check_chain(m);
}

TEST(RuntimeSoftmax, AxesAndCoerce2d) {
  for (sq_kind kind : {SQ_SOFTMAX, SQ_LOGSOFTMAX}) {
    ChainMaker m({-1, 10});
    m.softmax(kind, 1);
    check_chain(m);
    for (int axis = 0; axis < 4; axis++)
      for (bool coerce : {false, true}) {
        SCOPED_TRACE(::testing::Message() << sq_kind_name(kind) << " axis "
                                          << axis << " coerce " << coerce);
        ChainMaker m4({-1, 3, 4, 5});
        m4.softmax(kind, axis, coerce);
        check_chain(m4);
      }
  }
}

TEST(RuntimeSoftmax, AfterConvBlockedInput) {
  ChainMaker m({-1, 3, 6, 6});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).softmax(SQ_SOFTMAX, 1);
  m.conv(16, {{3, 3}}).softmax(SQ_LOGSOFTMAX, 2, true);
  check_chain(m);
}

TEST(RuntimeReshape, FlattenAndReshapeAfterConv) {
  ChainMaker m({-1, 3, 8, 8});
  m.conv(16, {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU).flatten();
  m.linear(10);
  check_chain(m);
  ChainMaker r({-1, 3, 8, 8});
  r.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}});
  r.reshape({-1, 16, 64}).linear(5).reshape({-1, 80});
  check_chain(r);
}

TEST(RuntimeReshape, ReshapeFirstAndLast) {
  ChainMaker m({-1, 1, 4, 7});
  m.flatten().linear(12).reshape({-1, 3, 4});
  check_chain(m);
  ChainMaker c({-1, 3, 5, 5});
  c.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).flatten();
  check_chain(c);
  ChainMaker only({-1, 2, 6});
  only.flatten().reshape({-1, 3, 4});
  check_chain(only);
}

TEST(RuntimeChain, ConvNet) {
  ChainMaker m({-1, 3, 16, 16});
  m.conv(16, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).batchnorm().eltwise(SQ_RELU);
  m.pool(SQ_MAXPOOL, {{2, 2}, {2, 2}});
  m.conv(32, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {}}).eltwise(SQ_RELU);
  m.pool(SQ_AVGPOOL, {{2, 2}, {2, 2}});
  m.flatten().linear(64).eltwise(SQ_RELU).linear(10).softmax(SQ_LOGSOFTMAX, 1);
  check_chain(m);
}

TEST(RuntimeChain, FixedBatch) {
  ChainMaker m({2, 3, 6, 6});
  m.conv(8, {{3, 3}}).flatten().linear(4);
  std::unique_ptr<sq_chain, ChainDeleter> chain(m.build());
  for (bool observable : {false, true})
    check_plan(chain.get(), 2, observable, make_input(chain.get(), 2, 1.0f),
               1e-4);
  sq_plan *plan = nullptr;
  EXPECT_EQ(sq_plan_create(chain.get(), 3, false, &plan),
            SEQRT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  EXPECT_NE(std::string(seqrt_last_error()).find("fixed batch of 2"),
            std::string::npos)
      << seqrt_last_error();
}
