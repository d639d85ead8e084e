//! Checks that a training step (forward, backward, optimizer update) does not allocate once
//! the tape, gradients, optimizer state and batch buffers exist.
//!
//! A counting global allocator counts allocations per thread, so the test harness's other
//! threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mlp_runtime::data::{Dataset, MiniBatches};
use mlp_runtime::init::{initialize, Init};
use mlp_runtime::{Adam, AdamConfig, Model, Optimizer, Sgd, SgdConfig, TwoLayerMlp};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to the system allocator unchanged; counting only touches a
// const-initialized thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds the GlobalAlloc contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by System with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as for alloc.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: `ptr` was allocated by System with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

type Net = TwoLayerMlp<f32, 8, 32, 4>;

fn dataset() -> Dataset {
    let inputs = (0..64 * 8).map(|i| f64::from(i % 7) / 7.0 - 0.5).collect();
    let targets = (0..64 * 4).map(|i| f64::from(i % 3) - 1.0).collect();
    let input_names = (0..8).map(|i| format!("x{i}")).collect();
    let target_names = (0..4).map(|i| format!("y{i}")).collect();
    Dataset::new(input_names, target_names, inputs, targets).expect("valid data set")
}

/// Runs `steps` training steps over mini-batches of 16 and returns the allocations counted
/// after a warm-up epoch.
fn count_step_allocations(model: &mut Net, optimizer: &mut impl Optimizer<Net>) -> usize {
    let data = dataset();
    let mut batches = MiniBatches::<f32>::new(&data, 16, 1).expect("batch size");
    let mut tape = <Net as Model>::Tape::default();
    let mut grads = <Net as Model>::Gradients::default();
    let mut step = |batches: &mut MiniBatches<f32>, model: &mut Net| {
        batches.start_epoch();
        while let Some(batch) = batches.next_batch() {
            Net::zero_gradients(&mut grads);
            model.forward_backward_batch(batch.inputs, batch.targets, &mut tape, &mut grads);
            optimizer.step(model, &grads);
        }
    };
    step(&mut batches, model);
    let before = allocations();
    for _ in 0..5 {
        step(&mut batches, model);
    }
    allocations() - before
}

#[test]
fn training_steps_do_not_allocate() {
    let mut model = Net::default();
    initialize(&mut model, Init::HeNormal, 1);
    let config = SgdConfig {
        learning_rate: 0.01,
        momentum: 0.9,
    };
    let mut sgd = Sgd::new(config, &model);
    assert_eq!(
        count_step_allocations(&mut model, &mut sgd),
        0,
        "SGD with momentum"
    );

    let mut adam = Adam::new(AdamConfig::default(), &model);
    assert_eq!(count_step_allocations(&mut model, &mut adam), 0, "Adam");

    // The counter must see allocations at all, or the zeros above prove nothing.
    let before = allocations();
    let boxed = Box::new(Net::default());
    assert!(
        allocations() > before,
        "counting allocator saw no allocation"
    );
    drop(boxed);
}
