module tgobench/driver

go 1.22
