use mlp_runtime::derive_mlp;

#[derive_mlp(relations = "
    dim I, N
    input  x[I]
    target y
    param  W[N, I], v[N]
    L = (sum_{i, j} v[i] * relu(W[i, j] * x[j]) - y)^2
")]
#[allow(non_snake_case)]
pub struct Net<const I: usize, const N: usize> {
    pub W: [[f32; I]; N],
}

fn main() {}
