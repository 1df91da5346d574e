package flow

import (
	"context"
	"fmt"

	flowv1 "github.com/convoflow/convoflow/gen/convoflow/flow/v1"
	"github.com/convoflow/convoflow/services/flow/store"
)

// execution reads an execution and checks it belongs to flowSid, so that
// one flow's SID cannot be used to reach another flow's executions.
func (s *service) execution(ctx context.Context, flowSid, sid string) (store.Execution, error) {
	e, err := s.store.GetExecution(ctx, sid)
	if err != nil {
		return store.Execution{}, err
	}
	if e.FlowSID != flowSid {
		return store.Execution{}, fmt.Errorf("execution %s of flow %s: %w", sid, flowSid, store.ErrNotFound)
	}
	return e, nil
}

// step reads a step and checks it belongs to the execution of the flow.
func (s *service) step(ctx context.Context, flowSid, executionSid, sid string) (store.Step, error) {
	if _, err := s.execution(ctx, flowSid, executionSid); err != nil {
		return store.Step{}, err
	}
	st, err := s.store.GetStep(ctx, sid)
	if err != nil {
		return store.Step{}, err
	}
	if st.ExecutionSID != executionSid {
		return store.Step{}, fmt.Errorf("step %s of execution %s: %w", sid, executionSid, store.ErrNotFound)
	}
	return st, nil
}

func (s *service) GetExecution(ctx context.Context, req *flowv1.GetExecutionRequest) (*flowv1.GetExecutionResponse, error) {
	e, err := s.execution(ctx, req.GetFlowSid(), req.GetSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.GetExecutionResponse{Execution: executionToProto(e)}, nil
}

func (s *service) ListExecutions(ctx context.Context, req *flowv1.ListExecutionsRequest) (*flowv1.ListExecutionsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	status, err := executionStatusFilter(req.GetStatus())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	p := store.ListExecutionsParams{
		FlowSID:    req.GetFlowSid(),
		Status:     status,
		PageParams: store.PageParams{PageSize: size, PageToken: req.GetPageToken()},
	}
	if t := req.GetCreateTimeFrom(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, s.fail(ctx, badRequest("create_time_from: %v", err))
		}
		p.CreatedFrom = t.AsTime()
	}
	if t := req.GetCreateTimeTo(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, s.fail(ctx, badRequest("create_time_to: %v", err))
		}
		p.CreatedTo = t.AsTime()
	}
	if !p.CreatedFrom.IsZero() && !p.CreatedTo.IsZero() && p.CreatedTo.Before(p.CreatedFrom) {
		return nil, s.fail(ctx, badRequest("create_time_to is before create_time_from"))
	}
	// The store lists an unknown flow as empty; Studio answers 404.
	if _, err := s.store.GetFlow(ctx, req.GetFlowSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	page, err := s.store.ListExecutions(ctx, p)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &flowv1.ListExecutionsResponse{Executions: make([]*flowv1.Execution, len(page.Executions)), NextPageToken: page.NextPageToken}
	for i, e := range page.Executions {
		out.Executions[i] = executionToProto(e)
	}
	return out, nil
}

func (s *service) DeleteExecution(ctx context.Context, req *flowv1.DeleteExecutionRequest) (*flowv1.DeleteExecutionResponse, error) {
	if _, err := s.execution(ctx, req.GetFlowSid(), req.GetSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := s.store.DeleteExecution(ctx, req.GetSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.DeleteExecutionResponse{}, nil
}

func (s *service) GetExecutionContext(ctx context.Context, req *flowv1.GetExecutionContextRequest) (*flowv1.GetExecutionContextResponse, error) {
	e, err := s.execution(ctx, req.GetFlowSid(), req.GetExecutionSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := jsonToStruct(e.Context)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("execution %s context: %w", e.SID, err))
	}
	return &flowv1.GetExecutionContextResponse{Context: c}, nil
}

func (s *service) ListExecutionSteps(ctx context.Context, req *flowv1.ListExecutionStepsRequest) (*flowv1.ListExecutionStepsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if _, err := s.execution(ctx, req.GetFlowSid(), req.GetExecutionSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	page, err := s.store.ListSteps(ctx, req.GetExecutionSid(), store.PageParams{PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &flowv1.ListExecutionStepsResponse{Steps: make([]*flowv1.ExecutionStep, len(page.Steps)), NextPageToken: page.NextPageToken}
	for i, st := range page.Steps {
		out.Steps[i] = stepToProto(st)
	}
	return out, nil
}

func (s *service) GetExecutionStep(ctx context.Context, req *flowv1.GetExecutionStepRequest) (*flowv1.GetExecutionStepResponse, error) {
	st, err := s.step(ctx, req.GetFlowSid(), req.GetExecutionSid(), req.GetSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.GetExecutionStepResponse{Step: stepToProto(st)}, nil
}

func (s *service) GetExecutionStepContext(ctx context.Context, req *flowv1.GetExecutionStepContextRequest) (*flowv1.GetExecutionStepContextResponse, error) {
	st, err := s.step(ctx, req.GetFlowSid(), req.GetExecutionSid(), req.GetStepSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	c, err := jsonToStruct(st.Context)
	if err != nil {
		return nil, s.fail(ctx, fmt.Errorf("step %s context: %w", st.SID, err))
	}
	return &flowv1.GetExecutionStepContextResponse{Context: c}, nil
}

func (s *service) CreateExecution(ctx context.Context, req *flowv1.CreateExecutionRequest) (*flowv1.CreateExecutionResponse, error) {
	if req.GetTo() == "" || req.GetFrom() == "" {
		return nil, s.fail(ctx, badRequest("to and from are required"))
	}
	var params map[string]any
	if req.GetParameters() != nil {
		params = req.GetParameters().AsMap()
	}
	e, err := s.runner.CreateExecution(ctx, req.GetFlowSid(), req.GetTo(), req.GetFrom(), params)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.CreateExecutionResponse{Execution: executionToProto(e)}, nil
}

func (s *service) EndExecution(ctx context.Context, req *flowv1.EndExecutionRequest) (*flowv1.EndExecutionResponse, error) {
	if _, err := s.execution(ctx, req.GetFlowSid(), req.GetSid()); err != nil {
		return nil, s.fail(ctx, err)
	}
	e, err := s.runner.EndExecution(ctx, req.GetFlowSid(), req.GetSid())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &flowv1.EndExecutionResponse{Execution: executionToProto(e)}, nil
}
