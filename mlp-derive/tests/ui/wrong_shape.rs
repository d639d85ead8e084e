use mlp_runtime::derive_mlp;

#[derive_mlp(relations = "
    dim I, N = 16
    input  x[I]
    target y
    param  W[N, I], v[N]
    L = (sum_{i, j} v[i] * W[i, j] * x[j] - y)^2
")]
#[allow(non_snake_case)]
pub struct Net<const I: usize> {
    pub W: [[f32; N]; I],
    pub v: [f32; 8],
}

fn main() {}
