// Package importrules holds the test that keeps the module's layers
// apart: it fails when a package imports, directly or through others, a
// package it must not (see importrules_test.go for the rules and why).
package importrules
