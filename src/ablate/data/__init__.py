"""Stage 2, the data: datasets decoded once into uint8 tensors (datasets), and the batches cut from them on
the training device (batches)."""
