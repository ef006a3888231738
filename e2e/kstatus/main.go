// Command kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library Flux and the kubectl
// ecosystem use to read health) makes of Kubernetes objects: it reads one object or a List as JSON
// on stdin (`kubectl get -o json`) and prints one JSON line per object:
//
//	{"name":"ns/name","status":"InProgress","message":"..."}
//
// status is one of InProgress, Failed, Current, Terminating, NotFound, Unknown. Exit status 1 when
// the input is not an object or status.Compute fails.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	// apimachinery's decoder turns whole numbers into int64, as unstructured accessors expect
	// (metadata.generation, status.observedGeneration).
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("stdin is not a JSON object: %w", err)
	}
	objects := []map[string]interface{}{obj}
	if items, ok := obj["items"].([]interface{}); ok {
		objects = objects[:0]
		for i, item := range items {
			m, ok := item.(map[string]interface{})
			if !ok {
				return fmt.Errorf("items[%d] is not an object", i)
			}
			objects = append(objects, m)
		}
	}
	enc := json.NewEncoder(out)
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		res, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		name := u.GetName()
		if ns := u.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		if err := enc.Encode(line{Name: name, Status: res.Status.String(), Message: res.Message}); err != nil {
			return err
		}
	}
	return nil
}
