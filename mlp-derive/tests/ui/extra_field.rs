use mlp_runtime::derive_mlp;

#[derive_mlp(relations = "
    dim I
    input  x[I]
    target y
    param  w[I]
    L = (sum_i w[i] * x[i] - y)^2
")]
pub struct Net<const I: usize> {
    pub w: [f32; I],
    pub learning_rate: f32,
}

fn main() {}
