use mlp_runtime::{derive_mlp, Model};

#[derive_mlp(file = "../examples/relu_net.mlp")]
#[allow(non_snake_case)]
pub struct Net<const I: usize, const N: usize, const O: usize> {
    pub W1: [[f64; I]; N],
    pub b1: [f64; N],
    pub W2: [[f64; N]; O],
    pub b2: [f64; O],
}

#[test]
fn relu_net_builds() {
    let model = Net::<3, 4, 2>::default();
    let mut tape = <Net<3, 4, 2> as Model>::Tape::default();
    let loss = model.forward(&[1.0, 2.0, 3.0], &[1.0, 1.0], &mut tape);
    assert_eq!(loss, 2.0);
}
