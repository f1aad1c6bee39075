"""Image variants for the upload bucket: pure processing (`processing`), the Lambda wiring
(`handler`) and a local CLI (`python -m image_processor process IMAGE --out DIR`)."""
