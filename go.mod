module github.com/golora/golora

go 1.26.8
